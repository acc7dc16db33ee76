"""``ColaLM``: lm-eval's Hugging Face model whose forward pass and greedy decoding run a chain of layers.

Subclassing lm-eval's ``HFLM`` keeps everything lm-eval decides (tokenisation, the BOS
prefix of empty contexts, left truncation, request sorting and batching, the one-token
continuation cache, stop-string post-processing, chat templates) exactly as for
``--model hf``; only two hooks change:

* ``_model_call`` (log-likelihoods) runs :meth:`cola.engine.model.ChainModel.forward`
  with the request's chain: one KV slot per chain position, weights shared, never copied;
* ``_model_generate`` (``generate_until``) runs cola's greedy lock-step decoder
  (:func:`cola.engine.decoding.decode_prompts`), each prompt read unpadded.

With per-input chains (``predictor=``), requests are grouped by the chain their context
gets and each group goes through lm-eval's own batching with that chain. Only greedy
generation is supported; sampling or beam settings are refused rather than ignored.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import contextmanager

import torch

from cola.engine.chain import Chain
from cola.engine.decoding import decode_prompts
from cola.engine.model import ChainModel
from cola.errors import ColaError
from cola.harness.chains import build_chooser
from cola.harness.entry import register

register()  # raises a one-line ColaError when lm-eval is missing; importing ColaLM makes "cola" resolve

from lm_eval.models.huggingface import HFLM  # noqa: E402

# Generation settings that do not change greedy decoding (lm-eval passes them through).
_GREEDY_NEUTRAL = {"top_p", "top_k", "typical_p", "min_p"}


def pick_device(device: str | None) -> str:
    """The device to load on; like lm-eval's ``hf`` (whose CLI default is ``cuda:0``), CPU when CUDA is absent."""
    if device in (None, "", "auto") or (str(device).startswith("cuda") and not torch.cuda.is_available()):
        chosen = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in (None, "", "auto", chosen):
            print(f"cola: device {device!r} is not available; using {chosen}", file=sys.stderr)
        return chosen
    return str(device)


class ColaLM(HFLM):
    """``--model cola``: a chain of the model's layers (fixed, or chosen per input) inside lm-eval.

    ``pretrained`` is an embedded model name (``smollm2-135m``, ``gemma3-270m``), a local
    directory, a hub id or a loaded :class:`~cola.engine.model.ChainModel`. ``chain`` is a
    chain spec (default: the full model; in ``--model_args`` separate items with ``;``);
    ``predictor`` a search-run directory whose ``predictor_kind`` predictor chooses each
    input's chain (``drop`` for the layer-drop baselines). Other keyword arguments go to
    lm-eval's ``HFLM`` (``max_length``, ``add_bos_token``, ...).
    """

    def __init__(
        self,
        pretrained: str | ChainModel = "smollm2-135m",
        chain=None,
        predictor: str | None = None,
        predictor_kind: str = "knn",
        drop: int | None = None,
        fit_seed: int = 0,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | str = 1,
        **kwargs,
    ):
        _refuse_unknown(kwargs)
        if isinstance(pretrained, ChainModel):
            model = pretrained
        else:
            model = ChainModel.from_pretrained(str(pretrained), dtype=dtype, device=pick_device(device))
        self.chain_model = model
        self.chooser = build_chooser(model, chain, predictor, predictor_kind, drop, fit_seed)
        self._active: Chain | None = None
        super().__init__(pretrained=model.model, tokenizer=model.tokenizer, batch_size=batch_size, **kwargs)

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> ColaLM:
        """``--model_args "k=v,..."`` (from ``simple_evaluate``): as :meth:`create_from_arg_obj`."""
        from lm_eval.utils import simple_parse_args_string

        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None) -> ColaLM:
        """The model from ``model_args`` plus lm-eval's own options (``--batch_size``, ``--device``, ...).

        lm-eval passes its options beside ``model_args`` as keywords, so ``batch_size=8`` in
        ``model_args`` would meet ``--batch_size``'s default of 1 twice (a ``TypeError``). A key
        given in ``model_args`` wins over an option left at lm-eval's default; given both ways
        with different values it is refused in one line.
        """
        return cls(**merge_model_args(arg_dict, additional_config))

    # ------------------------------------------------------------- chain choice
    @contextmanager
    def _running(self, chain: Chain):
        previous, self._active = self._active, chain
        try:
            yield
        finally:
            self._active = previous

    def current_chain(self) -> Chain:
        """The chain of the requests now running (the fixed chain outside any request group)."""
        if self._active is not None:
            return self._active
        return self.chooser.fixed or tuple(range(self.chain_model.num_layers))

    def _fixed_now(self) -> Chain | None:
        return self._active if self._active is not None else self.chooser.fixed

    def _by_chain(self, contexts: Sequence[Sequence[int]]) -> dict[Chain, list[int]]:
        """Request indices grouped by the chain each context gets (first-seen order)."""
        groups: dict[Chain, list[int]] = {}
        for index, tokens in enumerate(contexts):
            groups.setdefault(self.chooser.choose(list(tokens)[-self.max_length :]), []).append(index)
        return groups

    def _per_chain(self, items: Sequence, contexts: Sequence[Sequence[int]], run) -> list:
        """``run(subset)`` once per chain group, results put back in the order of ``items``."""
        results: list = [None] * len(items)
        for chain, indices in self._by_chain(contexts).items():
            with self._running(chain):
                for index, result in zip(indices, run([items[i] for i in indices])):
                    results[index] = result
        return results

    # ------------------------------------------------------------ lm-eval entry points
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        fixed = self._fixed_now()
        if fixed is not None:
            with self._running(fixed):
                return super()._loglikelihood_tokens(
                    requests, disable_tqdm=disable_tqdm, override_bs=override_bs
                )
        run = lambda group: super(ColaLM, self)._loglikelihood_tokens(group, disable_tqdm, override_bs)  # noqa: E731
        return self._per_chain(requests, [context for _, context, _ in requests], run)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        fixed = self._fixed_now()
        if fixed is not None:
            with self._running(fixed):
                return super().loglikelihood_rolling(requests, disable_tqdm=disable_tqdm)
        contexts = [self.tok_encode(request.args[0]) for request in requests]
        run = lambda group: super(ColaLM, self).loglikelihood_rolling(group, disable_tqdm)  # noqa: E731
        return self._per_chain(requests, contexts, run)

    def generate_until(self, requests, disable_tqdm: bool = False):
        fixed = self._fixed_now()
        if fixed is not None:
            with self._running(fixed):
                return super().generate_until(requests, disable_tqdm=disable_tqdm)
        contexts = [self.tok_encode(request.args[0]) for request in requests]
        run = lambda group: super(ColaLM, self).generate_until(group, disable_tqdm)  # noqa: E731
        return self._per_chain(requests, contexts, run)

    # ------------------------------------------------------------------- hooks
    def _model_call(self, inps: torch.Tensor, attn_mask=None, labels=None) -> torch.Tensor:
        if attn_mask is not None or labels is not None:
            raise ColaError("cola runs decoder-only models; lm-eval asked for an encoder-decoder call")
        return self.chain_model.forward(self.current_chain(), inps)

    def _model_generate(self, context: torch.Tensor, max_length: int, stop: list[str], **generation_kwargs):
        """Greedy continuations of the left-padded ``context`` rows, returned after the context as HF does."""
        mask = generation_kwargs.pop("attention_mask", None)
        _check_greedy(generation_kwargs)
        rows = [
            context[i : i + 1] if mask is None else context[i][mask[i].bool()].unsqueeze(0)
            for i in range(context.shape[0])
        ]
        stops = [s for s in stop if s]
        stop_rule = (lambda text: any(s in text for s in stops)) if stops else None
        decoded = decode_prompts(
            self.chain_model,
            self.current_chain(),
            rows,
            max_length - context.shape[1],
            [stop_rule] * len(rows),
        )
        width = max((len(g.token_ids) for g in decoded.generations), default=0)
        out = torch.full((len(rows), width), self.eot_token_id, dtype=context.dtype, device=context.device)
        for i, generation in enumerate(decoded.generations):
            out[i, : len(generation.token_ids)] = torch.tensor(generation.token_ids, dtype=context.dtype)
        return torch.cat([context, out], dim=1)


# lm-eval's defaults for the options it passes beside model_args (its CLI fills them in unasked).
_OPTION_DEFAULTS = {"batch_size": (1, "1"), "max_batch_size": (None, 64), "device": ("cuda", "cuda:0")}
# HFLM arguments cola sets itself (the model and its tokenizer are cola's ChainModel's).
_SET_BY_COLA = {"self", "pretrained", "tokenizer", "kwargs"}


def model_arg_names() -> list[str]:
    """Every ``model_args`` key ``--model cola`` accepts: its own and those of lm-eval's ``hf`` model."""
    import inspect

    own = [p for p in inspect.signature(ColaLM.__init__).parameters if p not in ("self", "kwargs")]
    stock = [p for p in inspect.signature(HFLM.__init__).parameters if p not in _SET_BY_COLA]
    return own + sorted(set(stock) - set(own))


def _refuse_unknown(kwargs: dict) -> None:
    """A mistyped key (``chian=0-3``) would silently score the full model: refuse it, naming the valid ones."""
    valid = model_arg_names()
    unknown = [key for key in kwargs if key not in valid]
    if unknown:
        raise ColaError(
            f"unknown model_args key {unknown[0]!r} for --model cola; valid keys: {', '.join(valid)}"
        )


def merge_model_args(arg_dict: dict, additional_config: dict | None) -> dict:
    """``model_args`` plus lm-eval's options, each key once (see :meth:`ColaLM.create_from_arg_obj`)."""
    merged = dict(arg_dict)
    for key, value in (additional_config or {}).items():
        if value is None:
            continue
        if key not in merged:
            merged[key] = value
        elif str(merged[key]) != str(value) and value not in _OPTION_DEFAULTS.get(key, ()):
            raise ColaError(
                f"{key} is given twice: {merged[key]} in model_args and {value} as --{key}; give it once"
            )
    return merged


def _check_greedy(kwargs: dict) -> None:
    """Refuse generation settings cola does not implement (it decodes greedily)."""
    if kwargs.pop("do_sample", False):
        raise ColaError("cola decodes greedily; this task asks for sampling (do_sample=True)")
    temperature = kwargs.pop("temperature", 0.0)
    if temperature not in (None, 0, 0.0):
        raise ColaError(f"cola decodes greedily; this task asks for temperature {temperature}")
    unknown = sorted(set(kwargs) - _GREEDY_NEUTRAL)
    if unknown:
        raise ColaError(f"cola decodes greedily and does not implement generation settings {unknown}")
