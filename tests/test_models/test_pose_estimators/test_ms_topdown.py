"""MSTopdownPoseEstimator: plain behaviour, heatmap mapping, multi-scale."""
import copy

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModule
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS, TRANSFORMS
from mmpose.structures import PoseDataSample

import sadinet_mmpose  # noqa: F401
from sadinet_mmpose.codecs.decoding import crop_centre_offset
from sadinet_mmpose.codecs.merging import (merge_scale_heatmaps,
                                           scale_resample_matrix)


@MODELS.register_module(name='SadinetTestSubsampleBackbone', force=True)
class _Subsample(BaseModule):
    """'Heatmap' = every 4th pixel of the first channel (crop px 4u -> u)."""

    def forward(self, x):
        return (x[:, :1, ::4, ::4].contiguous(), )


@MODELS.register_module(name='SadinetTestPoolBackbone', force=True)
class _Pool(BaseModule):
    """'Heatmap' = 4x4 means of the first channel: heatmap pixel u shows
    crop pixel 4u + 1.5, FlowHeatmapCodec's pixel-centre grid."""

    def forward(self, x):
        return (torch.nn.functional.avg_pool2d(x[:, :1], 4), )


@MODELS.register_module(name='SadinetTestSigmaHead', force=True)
class _SigmaHead(HeatmapHead):
    """A heatmap head that adds an extra instance field, like DLMHead."""

    def predict(self, feats, batch_data_samples, test_cfg={}):
        out = super().predict(feats, batch_data_samples, test_cfg)
        preds = out[0] if isinstance(out, tuple) else out
        for p in preds:
            p.keypoint_sigmas = np.full((1, 1, 2), 0.25)
        return out


def _model(test_cfg,
           head='HeatmapHead',
           estimator='MSTopdownPoseEstimator',
           codec_type='MSRAHeatmap'):
    codec = dict(
        type='MSRAHeatmap',
        input_size=(64, 64),
        heatmap_size=(16, 16),
        sigma=2,
        unbiased=True)
    backbone = 'SadinetTestSubsampleBackbone'  # MSRAHeatmap's u / 4 grid
    if codec_type == 'FlowHeatmapCodec':  # decodes the batch at once
        codec = dict(
            type='FlowHeatmapCodec',
            input_size=(64, 64),
            heatmap_size=(16, 16),
            sigma=2)
        backbone = 'SadinetTestPoolBackbone'
    return MODELS.build(
        dict(
            type=estimator,
            data_preprocessor=dict(
                type='PoseDataPreprocessor',
                mean=[0., 0., 0.],
                std=[1., 1., 1.]),
            backbone=dict(type=backbone),
            head=dict(
                type=head,
                in_channels=1,
                out_channels=1,
                deconv_out_channels=(),
                final_layer=None,
                decoder=codec),
            test_cfg=test_cfg)).eval()


def _batch(scales, blob=(110., 90.), sigma=12.):
    h = w = 200
    ys, xs = np.mgrid[0:h, 0:w]
    g = 255. * np.exp(-((xs - blob[0])**2 + (ys - blob[1])**2) /
                      (2 * sigma**2))
    img = np.repeat(g[..., None], 3, -1).astype(np.float32)
    results = dict(
        img=img,
        img_path=None,
        id=0,
        img_id=0,
        bbox=np.array([[50., 50., 150., 150.]]),
        bbox_score=np.ones(1, np.float32),
        bbox_center=np.array([[100., 100.]]),
        bbox_scale=np.array([[100., 100.]]),
        flip_indices=[0])
    affine = TRANSFORMS.build(
        dict(
            type='MultiScaleTopdownAffine', input_size=(64, 64),
            scales=scales))
    pack = TRANSFORMS.build(
        dict(
            type='PackPoseInputs',
            meta_keys=('id', 'img_id', 'input_size', 'input_center',
                       'input_scale', 'flip_indices', 'ms_inputs',
                       'ms_scales')))
    return pseudo_collate([pack(affine(results))])


def _predict(model, batch):
    with torch.no_grad():
        return model.test_step(copy.deepcopy(batch))[0].pred_instances


@pytest.mark.parametrize('flip', [False, True])
def test_plain_and_single_scale_equal_topdown(flip):
    batch = _batch([0.8, 1.0, 1.25])
    ref = _predict(
        _model(dict(flip_test=flip), estimator='TopdownPoseEstimator'), batch)
    for cfg in (dict(flip_test=flip),
                dict(flip_test=flip, multiscale_test=dict(scales=[1.0]))):
        with torch.no_grad():
            out = _model(cfg).test_step(copy.deepcopy(batch))[0]
        assert 'ms_inputs' not in out.metainfo, 'crops are dropped'
        got = out.pred_instances
        np.testing.assert_array_equal(
            got.keypoints, ref.keypoints, err_msg=str(cfg))
        np.testing.assert_array_equal(
            got.keypoint_scores, ref.keypoint_scores, err_msg=str(cfg))


def _gaussian(center, sigma, size=32):
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float64),
        torch.arange(size, dtype=torch.float64),
        indexing='ij')
    return torch.exp(-((xs - center[0])**2 + (ys - center[1])**2) /
                     (2 * sigma**2))[None, None]


def test_warp_maps_perfect_heatmaps_back():
    """A keypoint at u on the scale-1 grid is at c + (u - c) / s on the
    scale-s grid; mapping and averaging must keep it at u."""
    from mmpose.codecs import MSRAHeatmap
    codec = MSRAHeatmap(
        input_size=(32, 32), heatmap_size=(32, 32), sigma=2, unbiased=True)
    u = np.array([19.3, 11.6])
    c = 16.
    scales = [1.0, 0.75, 1.25, 1.5]
    hms = [_gaussian(c + (u - c) / s, 2. / s).float() for s in scales]
    assert torch.equal(merge_scale_heatmaps(hms[:1], [1.0]), hms[0])
    for s, hm in zip(scales[1:], hms[1:]):
        a = torch.from_numpy(scale_resample_matrix(32, s, c)).float()
        mapped = a @ hm @ a.T
        kpt, _ = codec.decode(mapped[0].numpy())
        assert np.abs(kpt[0, 0] - u).max() < 0.05, f'scale {s}'
    merged = merge_scale_heatmaps(hms, scales)
    kpt, _ = codec.decode(merged[0].numpy())
    assert np.abs(kpt[0, 0] - u).max() < 0.05, 'averaged'


@pytest.mark.parametrize('codec_type', ['MSRAHeatmap', 'FlowHeatmapCodec'])
def test_multiscale_blob_decodes_exactly_and_keeps_fields(codec_type):
    blob = (110., 90.)
    batch = _batch([0.8, 1.0, 1.25], blob=blob)
    cfg = dict(
        flip_test=False,
        output_heatmaps=True,
        multiscale_test=dict(scales=[0.8, 1.0, 1.25]))
    model = _model(cfg, head='SadinetTestSigmaHead', codec_type=codec_type)
    with torch.no_grad():
        out = model.test_step(copy.deepcopy(batch))[0]
    kpt = out.pred_instances.keypoints[0, 0]
    assert np.abs(kpt - np.array(blob)).max() < 0.5, f'ms keypoint {kpt}'
    assert out.pred_instances.keypoint_sigmas.shape == (1, 1, 2), \
        'extra instance fields of the scale-1 pass are kept'
    assert tuple(out.pred_fields.heatmaps.shape) == (1, 16, 16)
    assert 'ms_inputs' not in out.metainfo, 'crops are dropped after use'


def test_missing_crops_error_before_any_forward_pass():
    batch = _batch([1.0])
    model = _model(dict(multiscale_test=dict(scales=[1.0, 1.5])))
    calls = []
    model.extract_feat = lambda x: calls.append(x)  # must not be reached
    with pytest.raises(ValueError) as err:
        _predict(model, batch)
    msg = str(err.value)
    assert '\n' not in msg and 'model.test_cfg.multiscale_test.scales' in msg
    assert 'MultiScaleTopdownAffine' in msg and not calls


@pytest.mark.parametrize('test_cfg, match', [
    (dict(multiscale_test=dict(scales=[1.0, 0.])),
     'model.test_cfg.multiscale_test.scales must be a non-empty list of '
     'positive numbers'),
    (dict(multiscale_test=dict(scales=[1.0, -1.25])),
     'model.test_cfg.multiscale_test.scales must be'),
    (dict(multiscale_test=dict(scales=[])),
     'model.test_cfg.multiscale_test.scales must be'),
    (dict(multiscale_test=dict(scales=[1.0, 1.25, 1.25])),
     'lists a scale twice'),
    (dict(multiscale_test=dict(scale=[1.0, 1.25])),
     r"model.test_cfg.multiscale_test: unknown option\(s\) \['scale'\]"),
    (dict(decode_source='mean'), 'model.test_cfg.decode_source must be one'),
    (dict(decode_source='mu', multiscale_test=dict(scales=[1.0, 1.25])),
     "decode_source='mu' with multiscale_test needs a head"),
])
def test_bad_test_cfg_fails_at_build(test_cfg, match):
    with pytest.raises(ValueError, match=match) as err:
        _model(test_cfg)
    assert '\n' not in str(err.value)


# ----------------------------------------------------------------------
# DLMHead under the multi-scale test: every decode source, with sigmas
# ----------------------------------------------------------------------
@MODELS.register_module(name='SadinetTestDLMBackbone', force=True)
class _DLMBackbone(BaseModule):
    """(spatial, f) for DLMHead: a stride-4 conv (64 -> 16 px) and a pooled,
    projected vector."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 4, stride=4)
        self.fc = torch.nn.Linear(8, 16)

    def forward(self, x):
        s = torch.tanh(self.conv(x))
        return (s, self.fc(s.mean((2, 3))))


#: The crop centre on FlowHeatmapCodec's pixel-centre grid (64 -> 16).
DLM_CENTRE = crop_centre_offset((64, 64), (16, 16), 'centre')


def _dlm_model(test_cfg):
    codec = dict(
        type='FlowHeatmapCodec',
        input_size=(64, 64),
        heatmap_size=(16, 16),
        sigma=2)
    torch.manual_seed(3)
    model = MODELS.build(
        dict(
            type='MSTopdownPoseEstimator',
            data_preprocessor=dict(
                type='PoseDataPreprocessor',
                mean=[120., 120., 120.],
                std=[60., 60., 60.]),
            backbone=dict(type='SadinetTestDLMBackbone'),
            head=dict(
                type='DLMHead',
                in_channels=8,
                vec_channels=16,
                out_channels=2,
                decoder=codec),
            test_cfg=test_cfg))
    # larger weights than the default init: distinct, off-centre outputs
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0., 0.3)
    return model.eval()


def _dlm_batch(scales):
    """Two textured images, each with a box, and their multi-scale crops."""
    rng = np.random.RandomState(0)
    affine = TRANSFORMS.build(
        dict(
            type='MultiScaleTopdownAffine', input_size=(64, 64),
            scales=scales))
    pack = TRANSFORMS.build(
        dict(
            type='PackPoseInputs',
            meta_keys=('id', 'img_id', 'input_size', 'input_center',
                       'input_scale', 'flip_indices', 'ms_inputs',
                       'ms_scales')))
    out = []
    for i, (cx, cy, side) in enumerate([(100., 96., 90.), (90., 110., 70.)]):
        img = cv2.GaussianBlur(
            rng.randint(0, 255, (200, 200, 3)).astype(np.uint8), (0, 0), 3)
        out.append(
            pack(
                affine(
                    dict(
                        img=img,
                        img_path=None,
                        id=i,
                        img_id=i,
                        bbox=np.array([[
                            cx - side / 2, cy - side / 2, cx + side / 2,
                            cy + side / 2
                        ]]),
                        bbox_score=np.ones(1, np.float32),
                        bbox_center=np.array([[cx, cy]]),
                        bbox_scale=np.array([[side, side]]),
                        flip_indices=[1, 0]))))
    return pseudo_collate(out)


def _single_scale_reference(test_cfg, batch, scale):
    """The plain (single-scale) prediction of the crop at ``scale``, in image
    pixels, and the heatmap the head decoded (None for ``'mu'``)."""
    cfg = {k: v for k, v in test_cfg.items() if k != 'multiscale_test'}
    model = _dlm_model(cfg)
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    samples = data['data_samples']
    if scale != 1.0:
        crops = []
        for ds in samples:
            j = list(ds.metainfo['ms_scales']).index(scale)
            crops.append(
                torch.from_numpy(ds.metainfo['ms_inputs'][j].transpose(
                    2, 0, 1).copy()))
            # the crop at `scale` covers scale times the box
            ds.set_metainfo(
                dict(
                    input_scale=np.asarray(ds.metainfo['input_scale']) *
                    scale))
        inputs = model.data_preprocessor(
            dict(inputs=crops, data_samples=[PoseDataSample() for _ in crops]),
            False)['inputs']
    else:
        inputs = data['inputs']
    decoded = []
    decode = model.head.decoder.batch_decode_tensor

    def spy(hm):
        decoded.append(hm.detach().clone())
        return decode(hm)

    model.head.decoder.batch_decode_tensor = spy
    with torch.no_grad():
        out = model.predict(inputs, samples)
    return out, (decoded[0] if decoded else None)


def _to_image(kpts, ds):
    size = np.asarray(ds.metainfo['input_size'], np.float32)
    scale = np.asarray(ds.metainfo['input_scale'], np.float32)
    center = np.asarray(ds.metainfo['input_center'], np.float32)
    return kpts / size * scale + center - 0.5 * scale


@pytest.mark.parametrize('flip', [False, True])
@pytest.mark.parametrize('source', ['h1', 'mu', 'blend'])
def test_single_scale_list_equals_plain_for_every_decode_source(source, flip):
    batch = _dlm_batch([0.8, 1.0, 1.25])
    plain = dict(flip_test=flip, decode_source=source)
    ref, _ = _single_scale_reference(plain, batch, 1.0)
    model = _dlm_model(dict(plain, multiscale_test=dict(scales=[1.0])))
    with torch.no_grad():
        got = model.test_step(copy.deepcopy(batch))
    for g, r in zip(got, ref):
        for key in ('keypoints', 'keypoint_scores', 'keypoint_sigmas'):
            np.testing.assert_array_equal(
                g.pred_instances[key],
                r.pred_instances[key],
                err_msg=f'{source} {key}')


@pytest.mark.parametrize('flip', [False, True])
@pytest.mark.parametrize('source', ['h1', 'mu', 'blend'])
def test_multiscale_merges_what_the_head_decodes(source, flip):
    """Scales 0.8, 1, 1.25: the merged result equals the plain predictions of
    the three crops combined by hand: for 'h1' / 'blend' the map the head
    decodes (H1 or (1 - chi) H1 + chi H2) mapped to the scale-1 grid,
    averaged and decoded; for 'mu' the keypoints averaged in image pixels
    with scores 1 - mean(sigma) of the averaged sigma. ``keypoint_sigmas``
    are averaged in image pixels for every source."""
    scales = [0.8, 1.0, 1.25]
    batch = _dlm_batch(scales)
    cfg = dict(
        flip_test=flip,
        decode_source=source,
        multiscale_test=dict(scales=scales))
    model = _dlm_model(cfg)
    with torch.no_grad():
        got = model.test_step(copy.deepcopy(batch))
    refs = [_single_scale_reference(cfg, batch, s) for s in scales]
    base = [ds for ds in refs[1][0]]  # scale-1 samples: the output frame
    sig = np.mean([[r.pred_instances.keypoint_sigmas for r in out]
                   for out, _ in refs],
                  axis=0)
    if source == 'mu':
        kpts = np.mean([[r.pred_instances.keypoints for r in out]
                        for out, _ in refs],
                       axis=0)
        side = np.array(
            [np.asarray(ds.metainfo['input_scale']) for ds in base])[:, None,
                                                                     None, :]
        scores = np.clip(1. - (sig / side).mean(-1), 0., 1.)
    else:
        merged = merge_scale_heatmaps([hm for _, hm in refs], scales,
                                      DLM_CENTRE)
        k_in, scores = model.head.decoder.batch_decode_tensor(merged)
        kpts = np.stack(
            [_to_image(k_in[i:i + 1], ds) for i, ds in enumerate(base)])
        scores = scores[:, None]
    # the plain single-scale result differs: the test can tell them apart
    plain = refs[1][0][0].pred_instances
    assert max(
        np.abs(plain.keypoints - kpts[0]).max(),
        np.abs(plain.keypoint_scores - scores[0]).max() * 100,
        np.abs(plain.keypoint_sigmas - sig[0]).max()) > 0.05
    for i, out in enumerate(got):
        p = out.pred_instances
        np.testing.assert_allclose(
            p.keypoints, kpts[i], atol=2e-3, err_msg=f'{source} keypoints')
        np.testing.assert_allclose(
            p.keypoint_scores,
            scores[i],
            atol=1e-5,
            err_msg=f'{source} scores')
        np.testing.assert_allclose(
            p.keypoint_sigmas, sig[i], rtol=1e-5, err_msg=f'{source} sigmas')


@pytest.mark.parametrize('source', ['mu', 'blend'])
def test_multiscale_output_heatmaps_are_the_merged_h1(source):
    """With output_heatmaps the fields hold H1 merged over the scales (and
    the scale-1 H2), whatever map the keypoints were decoded from."""
    scales = [0.8, 1.0, 1.25]
    batch = _dlm_batch(scales)
    plain = dict(flip_test=True, output_heatmaps=True)
    h1 = []
    for s in scales:  # the plain H1 of each crop
        (out, _) = _single_scale_reference(
            dict(plain, decode_source='h1'), batch, s)
        h1.append(torch.stack([o.pred_fields.heatmaps for o in out]))
    model = _dlm_model(
        dict(plain, decode_source=source, multiscale_test=dict(scales=scales)))
    with torch.no_grad():
        got = model.test_step(copy.deepcopy(batch))
    want = merge_scale_heatmaps(h1, scales, DLM_CENTRE)
    for i, out in enumerate(got):
        torch.testing.assert_close(out.pred_fields.heatmaps, want[i])
        assert tuple(out.pred_fields.heatmaps_h2.shape) == (2, 16, 16)


def test_multiscale_reports_the_calibrated_sigma():
    """The head's calibration buffers scale the merged sigmas per joint and
    add the Student t's degrees of freedom; keypoints do not change."""
    scales = [0.8, 1.0, 1.25]
    batch = _dlm_batch(scales)
    cfg = dict(
        flip_test=True,
        decode_source='blend',
        multiscale_test=dict(scales=scales))
    plain, cal = _dlm_model(cfg), _dlm_model(cfg)
    cal.head.calibration.factors.copy_(torch.tensor([0.5, 3.0]))
    cal.head.calibration.dof.fill_(4.)
    with torch.no_grad():
        a = plain.test_step(copy.deepcopy(batch))
        b = cal.test_step(copy.deepcopy(batch))
    for x, y in zip(a, b):
        np.testing.assert_allclose(
            y.pred_instances.keypoint_sigmas,
            x.pred_instances.keypoint_sigmas * np.array([0.5, 3.0])[:, None],
            rtol=1e-5)
        np.testing.assert_allclose(
            y.pred_instances.keypoints, x.pred_instances.keypoints, rtol=1e-6)
        assert y.pred_instances.keypoint_sigma_dof.tolist() == [[4., 4.]]
        assert bool(y.pred_instances.sigma_calibrated[0])


def test_a_box_outside_the_image_warns_once():
    import warnings

    from sadinet_mmpose.models.pose_estimators.ms_topdown import box_off_image
    model = _model(dict(flip_test=False))
    batch = _batch([1.0])
    ds = batch['data_samples'][0]
    ds.set_metainfo(dict(ori_shape=(200, 200)))
    assert box_off_image([ds]) is None, 'the box overlaps the image'
    ds.gt_instances.bboxes = np.array([[500., 500., 600., 700.]])
    assert 'outside its image (200x200' in box_off_image([ds])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        _predict(model, batch)
        _predict(model, batch)
    said = [w for w in caught if 'outside its image' in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]


@pytest.mark.parametrize('blob', [(110., 90.), (83.3, 121.7)])
def test_multiscale_merge_lands_on_the_drawn_pixel(blob):
    """The merge centre checked against the image itself, not the package's
    helpers: a blob drawn at a known pixel, seen at scales 1 and 2 on
    FlowHeatmapCodec's pixel-centre grid, decodes to that pixel within 0.3
    px (DARK's own error is up to 0.16 px here). Merging about another
    grid's centre (MSRA's ``u W / w``) moves it by about 1.1 px."""
    scales = [1.0, 2.0]
    batch = _batch(scales, blob=blob, sigma=14.)
    one = _model(dict(flip_test=False), codec_type='FlowHeatmapCodec')
    ms = _model(
        dict(flip_test=False, multiscale_test=dict(scales=scales)),
        codec_type='FlowHeatmapCodec')
    single = _predict(one, batch).keypoints[0, 0]
    merged = _predict(ms, batch).keypoints[0, 0]
    assert np.abs(single - np.array(blob)).max() < 0.3, single
    assert np.abs(merged - np.array(blob)).max() < 0.3, merged


@pytest.mark.parametrize('blob', [(110., 90.), (83.3, 121.7)])
def test_flip_test_adds_no_bias_on_the_drawn_pixel(blob):
    """A model whose heatmap is the image itself (FlowHeatmapCodec's grid)
    is exact with and without the flip test: the flip test moves no
    keypoint, in x or y, by more than DARK's own error."""
    batch = _batch([1.0], blob=blob, sigma=14.)
    plain = _predict(
        _model(dict(flip_test=False), codec_type='FlowHeatmapCodec'),
        batch).keypoints[0, 0]
    flip = _predict(
        _model(
            dict(flip_test=True, flip_mode='heatmap', shift_heatmap=False),
            codec_type='FlowHeatmapCodec'), batch).keypoints[0, 0]
    assert np.abs(flip - np.array(blob)).max() < 0.3, flip
    assert np.abs(flip - plain).max() < 0.2, (flip, plain)
