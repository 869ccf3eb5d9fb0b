"""Model inference, free of Django: backends behind one small protocol, prompts, coalescing."""
