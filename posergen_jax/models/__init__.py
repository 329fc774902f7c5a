"""Flax linen networks: SR3 U-Net, GAN generators/critics, StackGAN, VGG, Inception."""
