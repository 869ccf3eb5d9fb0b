"""A tiny randomly initialised Llama with a word-level ChatML tokenizer, written as a Hugging
Face folder: the transformers backend's contract on any device without shipping weights
(a few MB, made in a second; it says nothing sensible, so only the mechanics are tested).

    python -m tests.inference.tiny_model FOLDER
"""

import sys
from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"]
PHRASES = (
    "system user assistant you are a helpful the of to and is in what capital france paris",
    "germany count from one per line number word hello world reply with only which source",
    "answers my question or if none does shipping return order",
)
WORDS = [w for p in PHRASES for w in p.split()] + [str(n) for n in range(201)] + list(".,?!:")


def tiny_model_build(folder: Path, seed: int = 0) -> Path:
    """Write the tokenizer and a 2-layer Llama to `folder`. The end-of-turn and end-of-text
    rows of the output layer are zero and the others large, so the random model does not
    end an answer early."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIAL, *dict.fromkeys(WORDS)])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        bos_token_id=vocab["<|im_start|>"],
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # Logits of a few units (not hundredths): sampling at 0.2 then follows the model.
        model.lm_head.weight.normal_(0.0, 1.0)
        for token in ("<|im_end|>", "<|endoftext|>"):
            model.lm_head.weight[vocab[token]] = 0
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


if __name__ == "__main__":
    sys.stdout.write(f"{tiny_model_build(Path(sys.argv[1]))}\n")
