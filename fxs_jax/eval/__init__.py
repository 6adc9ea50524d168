"""Evaluation: the papers metrics (SSIM/PSNR, FID/IS, ACD, AU error, expression accuracy)."""
