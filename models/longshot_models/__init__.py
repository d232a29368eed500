"""longshot's model toolkit: synthetic world, pseudo-3D latent video diffusion in miniature, ONNX pack export."""
