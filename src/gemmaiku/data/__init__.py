"""The SFT corpus: format, fixed splits, checks and statistics (`gemmaiku data`)."""
