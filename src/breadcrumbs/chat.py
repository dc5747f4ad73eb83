"""Prompt encoding: a task prompt goes through the tokenizer's chat template when the model is a chat model.

Whether to use the template is decided once, when a model is loaded (`set_chat`), and stored on the tokenizer, so
every path that encodes a prompt (generation, evaluation, SFT traces, RL rollouts) calls `encode_prompt` and
encodes it the same way. The default (`chat=None`, or a tokenizer `set_chat` never saw) uses the template exactly
when the tokenizer has one.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from breadcrumbs.errors import BreadcrumbsError

_ATTRIBUTE = "breadcrumbs_chat"
# The config spelling of the three choices (YAML reads on/off/yes/no as booleans, so plain words are used).
CHAT_MODES = {"auto": None, "always": True, "never": False}


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def set_chat(tokenizer: PreTrainedTokenizerBase, chat: bool | None = None) -> bool:
    """Decide whether prompts use the chat template: `None` = when the tokenizer has one. Returns the decision."""
    if chat and not has_chat_template(tokenizer):
        raise BreadcrumbsError("--chat: this model's tokenizer has no chat template; use --no-chat (raw prompts)")
    use = has_chat_template(tokenizer) if chat is None else bool(chat)
    setattr(tokenizer, _ATTRIBUTE, use)
    return use


def uses_chat(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether `encode_prompt` applies the chat template: as `set_chat` decided, else when the tokenizer has one."""
    decided = getattr(tokenizer, _ATTRIBUTE, None)
    return has_chat_template(tokenizer) if decided is None else decided


def encode_prompt(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of a prompt: a user turn plus the assistant header under the chat template, else the plain text
    (with the tokenizer's BOS when it adds one). The completion follows these ids directly."""
    if not uses_chat(tokenizer):
        return tokenizer(text)["input_ids"]
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": text.strip()}], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    return list(ids)


def chat_mode(chat: bool | None) -> str:
    """The config spelling (`model.chat`) of a `--chat/--no-chat` choice (None: auto)."""
    return next(mode for mode, value in CHAT_MODES.items() if value is chat)
