import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cola.engine.chain import chain_from_json, chain_to_json, format_chain, full_chain, parse_chain
from cola.errors import ChainSpecError


def test_parse_ranges_repeats_and_order():
    assert parse_chain("0-3,5,5,2") == (0, 1, 2, 3, 5, 5, 2)
    assert parse_chain(" 0 - 2 , 7 ") == (0, 1, 2, 7)
    assert parse_chain("[3, 1, 1]") == (3, 1, 1)
    assert parse_chain([4, 4]) == (4, 4)


def test_format_is_compact():
    assert format_chain((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 11, 12, 13)) == "0-9,11,11-13"
    assert format_chain(full_chain(30)) == "0-29"
    assert format_chain((5, 4, 3)) == "5,4,3"


@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=80))
def test_text_and_json_round_trip(layers):
    chain = tuple(layers)
    assert parse_chain(format_chain(chain), 41) == chain
    assert chain_from_json(chain_to_json(chain), 41) == chain
    assert json.loads(chain_to_json(chain)) == layers


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("0-3,x", "'x' is not an index"),
        ("5-2", "runs backwards"),
        ("0-30", "unknown layer index 30: the model has 30 layers"),
        ("[1, 2", "not valid JSON"),
        ("[]", "chain is empty"),
        ("[1.5]", "not an integer"),
        ("-1", "is not an index"),
    ],
)
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ChainSpecError, match=message.replace("(", r"\(")):
        parse_chain(spec, 30)
