import gguf
import pytest

from advisor.profiles.formats import (
    GGML_TYPE_SIZES,
    GGUF_FILE_TYPES,
    LINEAR_FORMATS,
    get_format,
    ggml_type_bpw,
)


@pytest.mark.parametrize(
    ("type_name", "bpw"),
    [
        ("F16", 16.0),
        ("Q8_0", 8.5),
        ("Q6_K", 6.5625),
        ("Q5_K", 5.5),
        ("Q5_0", 5.5),
        ("Q5_1", 6.0),
        ("Q4_K", 4.5),
        ("Q4_0", 4.5),
        ("Q4_1", 5.0),
        ("Q3_K", 3.4375),
        ("Q2_K", 2.625),
        ("IQ4_XS", 4.25),
        ("IQ3_S", 3.4375),
        ("IQ2_XXS", 2.0625),
        ("IQ1_S", 1.5625),
    ],
)
def test_block_bits_per_weight(type_name: str, bpw: float) -> None:
    assert ggml_type_bpw(type_name) == bpw


def test_block_sizes_match_gguf_py() -> None:
    for name, sizes in GGML_TYPE_SIZES.items():
        assert gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]] == sizes, name


def test_file_type_enum_matches_gguf_py() -> None:
    for name, ft in GGUF_FILE_TYPES.items():
        enum_name = "ALL_F32" if name == "F32" else f"MOSTLY_{name}"
        enum_name = {"MOSTLY_MXFP4": "MOSTLY_MXFP4_MOE"}.get(enum_name, enum_name)
        assert gguf.LlamaFileType[enum_name] == ft.ftype, name


def test_bitsandbytes_bits_per_weight() -> None:
    assert LINEAR_FORMATS["int8"].linear_bpw == 8.0
    assert LINEAR_FORMATS["nf4"].linear_bpw == 4.5
    assert LINEAR_FORMATS["fp4"].linear_bpw == 4.5
    assert LINEAR_FORMATS["nf4-dq"].linear_bpw == pytest.approx(4.127, abs=5e-4)
    for name in ("int8", "nf4", "fp4", "GPTQ-Int4", "AWQ"):
        assert LINEAR_FORMATS[name].edge_bits == 16  # embeddings and lm_head stay 16-bit


def test_gptq_group_128_overhead() -> None:
    assert LINEAR_FORMATS["GPTQ-Int4"].linear_bpw == pytest.approx(4.15625)
    assert LINEAR_FORMATS["GPTQ-Int8"].linear_bpw == pytest.approx(8.1875)


def test_mixes_sit_above_their_block_type() -> None:
    q4km = GGUF_FILE_TYPES["Q4_K_M"]
    assert q4km.block_bpw == 4.5
    assert 4.7 < q4km.body_bpw < 4.9  # attn_v/ffn_down kept at Q6_K in half the layers
    assert GGUF_FILE_TYPES["Q4_K_S"].body_bpw < q4km.body_bpw


def test_get_format_is_case_insensitive_and_rejects_unknown() -> None:
    assert get_format("q4_k_m").name == "Q4_K_M"
    assert get_format("NF4").name == "nf4"
    with pytest.raises(KeyError):
        get_format("Q9_X")


def test_bf16_spellings_pick_their_backend() -> None:
    assert get_format("BF16").backend == "gguf"
    assert get_format("bf16").backend == "hf"
