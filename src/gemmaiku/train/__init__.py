"""LoRA SFT of Gemma 3 with peft (`gemmaiku train`): assistant-only loss, logits only where needed."""
