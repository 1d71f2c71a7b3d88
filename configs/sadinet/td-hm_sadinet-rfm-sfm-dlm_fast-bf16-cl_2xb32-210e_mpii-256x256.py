# The paper's MPII model with the speed settings switched on (same maths):
# bf16 automatic mixed precision (the flow and the loss stay in float32
# inside DLMHead/ChiWeightedLoss), channels-last tensors, cuDNN's algorithm
# search (fixed 256x256 crops, so it runs once per shape), and at inference
# backbone + neck replayed from CUDA graphs (one per input shape; CPU runs
# are unaffected). cuda_graph=dict(train=True) also replays the training
# forward + backward of backbone + neck from graphs (not yet measured on a
# GPU, so off here). Figures: README "Speed on one GPU" and
# docs/benchmarks.md.
_base_ = ['./td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
model = dict(channels_last=True, cuda_graph=dict(train=False))
env_cfg = dict(cudnn_benchmark=True)
