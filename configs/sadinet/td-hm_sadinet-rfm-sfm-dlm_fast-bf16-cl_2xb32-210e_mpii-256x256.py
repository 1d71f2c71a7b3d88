# The paper's MPII model with the speed settings switched on (same maths):
# bf16 automatic mixed precision (the flow and the loss stay in float32
# inside DLMHead/ChiWeightedLoss) and channels-last tensors. On one H100 at
# batch 64 this trains at 477 images/s against 295 in fp32 (and stock
# Hourglass-52's 616 in fp32): see README "Speed on one GPU".
_base_ = ['./td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
model = dict(channels_last=True)
