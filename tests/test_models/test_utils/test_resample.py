"""Tests of the matrix-product bilinear and pooled area resizing."""
import pytest
import torch
import torch.nn.functional as F

from sadinet_mmpose.models.utils import (bilinear_matrix, resize_area,
                                         resize_bilinear)

SIZES = [((4, 4), (8, 8)), ((8, 8), (64, 64)), ((16, 16), (64, 64)),
         ((5, 7), (13, 9)), ((9, 6), (4, 3)), ((1, 3), (4, 4)),
         ((6, 6), (6, 12))]


def _reference(x, size):
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


@pytest.mark.parametrize('in_size,out_size', SIZES)
def test_matches_interpolate_float64(in_size, out_size):
    torch.manual_seed(0)
    x = torch.randn(2, 3, *in_size, dtype=torch.float64) * 10
    out = resize_bilinear(x, out_size)
    ref = _reference(x, out_size)
    assert out.shape == ref.shape and out.dtype == torch.float64
    assert torch.allclose(out, ref, rtol=0, atol=1e-12), \
        (out - ref).abs().max()


@pytest.mark.parametrize('in_size,out_size', SIZES)
def test_gradient_matches_interpolate(in_size, out_size):
    torch.manual_seed(1)
    x = torch.randn(2, 3, *in_size, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 3, *out_size, dtype=torch.float64)
    (grad, ) = torch.autograd.grad((resize_bilinear(x, out_size) *
                                    upstream).sum(), x)
    (ref, ) = torch.autograd.grad((_reference(x, out_size) *
                                   upstream).sum(), x)
    assert torch.allclose(grad, ref, rtol=0, atol=1e-12)


def test_float32_relative_error():
    torch.manual_seed(2)
    x = torch.randn(4, 16, 8, 8)
    out, ref = resize_bilinear(x, (64, 64)), _reference(x, (64, 64))
    assert ((out - ref).norm() / ref.norm()) < 1e-6
    assert out.is_contiguous()


def test_rows_sum_to_one_and_power_of_two_weights():
    for n, m in [(8, 64), (7, 3), (1, 5), (32, 64)]:
        a = bilinear_matrix(n, m, dtype=torch.float64)
        assert a.shape == (m, n)
        assert torch.allclose(a.sum(1), torch.ones(m, dtype=torch.float64))
        assert (a >= 0).all()
    a = bilinear_matrix(32, 64)
    assert set(a.unique().tolist()) <= {0.0, 0.25, 0.75, 1.0}, \
        'x2 up-sampling weights are 1/4, 3/4 (1 at the borders)'


@pytest.mark.parametrize('in_size,out_size', SIZES)
def test_channels_last_matches_interpolate(in_size, out_size):
    torch.manual_seed(3)
    x = torch.randn(2, 4, *in_size, dtype=torch.float64).to(
        memory_format=torch.channels_last).requires_grad_()
    out = resize_bilinear(x, out_size)
    ref = _reference(x, out_size)
    if in_size != out_size:
        assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    upstream = torch.randn_like(ref)
    (g, ) = torch.autograd.grad((out * upstream).sum(), x)
    (g_ref, ) = torch.autograd.grad((ref * upstream).sum(), x)
    assert torch.allclose(g, g_ref, rtol=0, atol=1e-12)


def test_other_strides_go_to_interpolate():
    x = torch.randn(2, 4, 8, 6).transpose(2, 3)  # neither layout
    assert torch.equal(resize_bilinear(x, (12, 16)), _reference(x, (12, 16)))


def test_same_size_is_identity_and_bad_rank_is_an_error():
    x = torch.randn(1, 2, 5, 5)
    assert resize_bilinear(x, (5, 5)) is x
    with pytest.raises(ValueError, match=r'\(B, C, H, W\)'):
        resize_bilinear(torch.randn(2, 5, 5), (10, 10))
    with pytest.raises(ValueError, match='sizes must be >= 1'):
        bilinear_matrix(0, 4)


def test_under_cpu_autocast_runs_in_bfloat16():
    torch.manual_seed(4)
    x = torch.randn(2, 8, 8, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = resize_bilinear(x, (32, 32))
    assert out.dtype == torch.bfloat16
    ref = _reference(x, (32, 32))
    assert ((out.float() - ref).norm() / ref.norm()) < 1e-2


@pytest.mark.parametrize('in_size,out_size', [((64, 64), (32, 32)),
                                              ((64, 64), (8, 8)),
                                              ((64, 48), (16, 12)),
                                              ((13, 9), (5, 4))])
def test_area_matches_interpolate(in_size, out_size):
    torch.manual_seed(5)
    x = torch.randn(2, 3, *in_size, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 3, *out_size, dtype=torch.float64)
    out = resize_area(x, out_size)
    ref = F.interpolate(x, size=out_size, mode='area')
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    (g, ) = torch.autograd.grad((out * upstream).sum(), x)
    (g_ref, ) = torch.autograd.grad((ref * upstream).sum(), x)
    assert torch.allclose(g, g_ref, rtol=0, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('amp', [None, torch.bfloat16, torch.float16])
@pytest.mark.parametrize('layout', [torch.contiguous_format,
                                    torch.channels_last])
def test_cuda_matches_interpolate_with_and_without_autocast(amp, layout):
    torch.manual_seed(6)
    x = torch.randn(8, 32, 16, 16, device='cuda').to(
        memory_format=layout).requires_grad_()
    upstream = torch.randn(8, 32, 64, 64, device='cuda')
    ctx = (torch.autocast('cuda', dtype=amp) if amp else
           torch.autocast('cuda', enabled=False))
    with ctx:
        out = resize_bilinear(x, (64, 64))
        ref = _reference(x, (64, 64))
    assert out.dtype == (amp or torch.float32)
    tol = 1e-6 if amp is None else 1e-2
    assert ((out.float() - ref.float()).norm() / ref.float().norm()) < tol
    (g, ) = torch.autograd.grad((out.float() * upstream).sum(), x)
    (g_ref, ) = torch.autograd.grad((ref.float() * upstream).sum(), x)
    assert ((g - g_ref).norm() / g_ref.norm()) < tol


def test_matrix_first_built_under_inference_mode_serves_training():
    """An evaluation before training (under inference_mode) must not leave
    inference tensors in the cache that autograd then has to save."""
    from sadinet_mmpose.models.utils import resample
    resample._MATRIX_CACHE.clear()
    with torch.inference_mode():
        resize_bilinear(torch.randn(1, 2, 3, 5), (7, 11))
    x = torch.randn(1, 2, 3, 5, requires_grad=True)
    resize_bilinear(x, (7, 11)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_flop_counters_see_the_interpolation_ops():
    """mmengine's counter traces the model: it must count bilinear/area
    resizing as such, not the dense products' multiplications by zero."""

    def fn(x):
        return resize_area(resize_bilinear(x, (16, 16)), (4, 4))

    graph = str(torch.jit.trace(fn, torch.randn(1, 2, 8, 8)).graph)
    assert 'upsample_bilinear2d' in graph and 'adaptive_avg_pool2d' in graph
    assert 'aten::matmul' not in graph and 'aten::bmm' not in graph
