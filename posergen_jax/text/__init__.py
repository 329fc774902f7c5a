"""Text encoders: Flax BERT-family towers with released weights, tokenization with prompt checks,
char-CNN-RNN, and GAN text conditioning."""
