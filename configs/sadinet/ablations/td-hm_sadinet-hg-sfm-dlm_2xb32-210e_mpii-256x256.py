# Table IV: Hourglass-52 with plain basic blocks + SFM neck + DLM head
# ("Hourglass+SPM-DFM" in the paper): the RFM switched off.
_base_ = ['../td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']
model = dict(backbone=dict(block_type='basic'))
