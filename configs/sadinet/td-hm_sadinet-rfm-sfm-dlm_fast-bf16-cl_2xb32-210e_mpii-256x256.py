# The paper's MPII model with the speed settings switched on (same maths):
# bf16 automatic mixed precision (the flow and the loss stay in float32
# inside DLMHead/ChiWeightedLoss), channels-last tensors and cuDNN's
# algorithm search (fixed 256x256 crops, so it runs once per shape).
# Measured speed: benchmarks/README.md.
_base_ = ['./td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
model = dict(channels_last=True)
env_cfg = dict(cudnn_benchmark=True)
