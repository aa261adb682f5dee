"""nn.Module definitions only (teacher generator, student, discriminator). Needs torch."""
