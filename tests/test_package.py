"""Package-level promises: import hygiene, public names, wheel contents."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import pathlib
import shutil
import subprocess
import sys
import zipfile
from types import ModuleType

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

IO_MODULES = ("trio", "asyncio", "socket", "ssl", "selectors")


def test_sansio_core_imports_no_io_machinery() -> None:
    code = (
        "import json, sys\n"
        "import openai_sansio\n"
        f"print(json.dumps([m for m in {IO_MODULES!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=30,
    )
    assert json.loads(out.stdout) == []


def test_websocket_names_load_wsproto_on_first_use() -> None:
    code = (
        "import sys, openai_sansio\n"
        "before = 'wsproto' in sys.modules\n"
        "openai_sansio.WebSocketConnection\n"
        "print(before, 'wsproto' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=30
    )
    assert out.stdout.split() == ["False", "True"]


def test_the_import_check_can_see_io_modules() -> None:
    # Guards the test above against passing vacuously.
    code = f"import json, sys, openai_sansio, socket\nprint(json.dumps([m for m in {IO_MODULES!r} if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=30
    )
    assert "socket" in json.loads(out.stdout)


def check_public_names(module: ModuleType) -> None:
    names = module.__all__
    assert len(names) == len(set(names)), "duplicate names in __all__"
    private = [n for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
    assert private == [], f"private names exported: {private}"
    missing = [n for n in names if not hasattr(module, n)]
    assert missing == [], f"names in __all__ that do not resolve: {missing}"
    namespace: dict[str, object] = {}
    exec(f"from {module.__name__} import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == set(names)
    for name in names:
        obj = getattr(module, name)
        origin = getattr(obj, "__module__", None)
        if isinstance(obj, type) or inspect.isroutine(obj):
            # Re-exports of third-party objects would make them part of our API.
            assert origin is None or origin.split(".")[0] in ("openai_sansio", "openai_trio"), name


def test_openai_sansio_public_names() -> None:
    import openai_sansio

    check_public_names(openai_sansio)
    for name in ("Call", "RequestOptions", "NOT_GIVEN", "NotGiven", "RetryPolicy", "new_idempotency_key"):
        assert name in openai_sansio.__all__
    lifecycle = ("CallLifecycle", "SendRequest", "ReadBody", "StartStream", "StreamBody", "Retry", "Raise", "Done")
    for name in (*lifecycle, "UnexpectedContentTypeError", "MAX_BODY_BYTES", "MAX_ERROR_BODY_BYTES"):
        assert name in openai_sansio.__all__
    for name in ("MultipartBody", "FilePart", "encode_multipart", "FileTypes", "FileContent", "StreamedBody"):
        assert name in openai_sansio.__all__
    cassettes = ("Cassette", "CassettePlayer", "CassetteMiss", "CassetteFormatError", "ExchangeRecorder")
    for name in (*cassettes, "dumps_cassette", "loads_cassette", "match_recording", "scrub_request"):
        assert name in openai_sansio.__all__
    for name in ("ResponseStreamResumer", "StreamNotResumableError", "TERMINAL_RESPONSE_EVENTS"):
        assert name in openai_sansio.__all__
    websockets = ("WebSocketConnection", "WebSocketRequest", "WebSocketState", "WebSocketOpened", "WebSocketClosed")
    for name in (*websockets, "WebSocketClosedError", "PongReceived", "BinaryMessage"):
        assert name in openai_sansio.__all__
    for name in ("realtime_request", "responses_websocket_request", "RESPONSES_WEBSOCKET_MAX_AGE"):
        assert name in openai_sansio.__all__
    assert "DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE" in openai_sansio.__all__
    events = ("UnknownRealtimeEvent", "decode_realtime_server_event", "decode_realtime_server_message")
    for name in (*events, "decode_responses_ws_server_event", "decode_responses_ws_server_message"):
        assert name in openai_sansio.__all__
    for name in ("validate_realtime_client_event", "validate_responses_ws_client_event"):
        assert name in openai_sansio.__all__
    webhooks = ("verify_webhook_signature", "unwrap_webhook", "InvalidWebhookSignatureError", "UnknownWebhookEvent")
    for name in (*webhooks, "Poller", "PollDone", "PollWait", "PollTimeoutError", "poll_after_ms"):
        assert name in openai_sansio.__all__
    structured = ("strict_json_schema", "response_format_from", "text_format_from", "parse_structured")
    for name in (*structured, "function_tool", "FunctionTool", "parse_tool_arguments", "parse_chat_completion"):
        assert name in openai_sansio.__all__
    for name in ("LengthFinishReasonError", "ContentFilterFinishReasonError", "StructuredOutputError"):
        assert name in openai_sansio.__all__


def test_openai_trio_testing_public_names() -> None:
    import openai_trio.testing

    check_public_names(openai_trio.testing)
    for name in ("FakeServer", "FormPart", "parse_multipart", "WebSocketScript"):
        assert name in openai_trio.testing.__all__


def test_openai_trio_public_names() -> None:
    if not (ROOT / "openai_trio" / "__init__.py").exists():
        pytest.skip("openai_trio/__init__.py does not exist yet")
    openai_trio = importlib.import_module("openai_trio")
    if not hasattr(openai_trio, "__all__"):
        pytest.skip("openai_trio defines no __all__ yet")
    check_public_names(openai_trio)
    for name in ("BinaryResponse", "StreamedBinaryResponse", "UnexpectedContentTypeError"):
        assert name in openai_trio.__all__
    for name in ("stream_background_response", "BackgroundResponseStream", "StreamNotResumableError"):
        assert name in openai_trio.__all__
    import openai_sansio

    for name in ("AzureClient", "AzureADTokenProvider", "Timeout", "omit", "Omit", "ErrorResponse"):
        assert name in openai_trio.__all__
    websockets = ("RealtimeConnection", "ResponsesConnection", "ResponseStream", "AudioCollector")
    for name in (*websockets, "WebSocketClosedError", "WebSocketConnectionClosed", "ResponseInFlightError"):
        assert name in openai_trio.__all__
    assert openai_trio.WebSocketClosedError is openai_sansio.WebSocketClosedError
    for name in ("InvalidWebhookSignatureError", "PollTimeoutError"):
        assert name in openai_trio.__all__
        assert getattr(openai_trio, name) is getattr(openai_sansio, name)
    # Re-exports are the core's own objects, so isinstance checks agree.
    assert openai_trio.Timeout is openai_sansio.Timeout
    assert openai_trio.omit is openai_sansio.omit
    assert openai_trio.ErrorResponse is openai_sansio.ErrorResponse
    for name in ("LengthFinishReasonError", "ContentFilterFinishReasonError", "StructuredOutputError"):
        assert getattr(openai_trio, name) is getattr(openai_sansio, name)
    for name in ("function_tool", "FunctionTool", "ParsedChatCompletion", "ParsedResponse"):
        assert getattr(openai_trio, name) is getattr(openai_sansio, name)


def test_sdk_parity_names_in_the_core() -> None:
    import openai_sansio

    for name in (
        "omit",
        "Omit",
        "ErrorResponse",
        "AzureConfig",
        "AZURE_DEPLOYMENT_PATHS",
        "embeddings_encoding_format",
        "decode_base64_embedding",
        "decode_embeddings_response",
    ):
        assert name in openai_sansio.__all__


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("__pycache__", "build", "dist") or n.endswith(".egg-info")}


@pytest.mark.timeout(120)
def test_wheel_ships_type_markers(tmp_path: pathlib.Path) -> None:
    for tool in ("build", "setuptools", "wheel"):
        if importlib.util.find_spec(tool) is None:
            pytest.skip(f"building a wheel without isolation needs {tool!r} installed")
    # Build from a copy so the shared checkout gets no build/ or egg-info.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    for package in ("openai_sansio", "openai_trio"):
        shutil.copytree(ROOT / package, src / package, ignore=_ignore)
    out = tmp_path / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "openai_sansio/py.typed" in names
    assert "openai_trio/py.typed" in names
    assert "openai_sansio/__init__.py" in names
    assert "openai_sansio/_call.py" in names
