"""The chapter explorers: callbacks driven without a browser, and JupyterLab's widget traffic
replayed on a real kernel."""

from __future__ import annotations

import base64
import io
import queue

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from ipywidgets import Dropdown  # noqa: E402
from jupyter_client.manager import start_new_kernel  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from genre_lab import widgets  # noqa: E402
from genre_lab.data import gtzan  # noqa: E402


def _pixels(png_b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png_b64))).convert("L"))


def test_zcr_explorer_callback(make_gtzan):
    tracks = gtzan.track_table(make_gtzan(clips=2))
    explorer = widgets.zcr_explorer(tracks)
    first = explorer.result  # drawn once on creation
    assert first["path"].endswith("blues.00000.wav")

    result = explorer.update(genre="rock", clip=1, frame_length=1024, hop_length=256)
    assert result["path"].endswith("rock.00001.wav")
    n_samples = 4 * 22050
    assert len(result["zcr"]) == 1 + n_samples // 256
    assert np.all((result["zcr"] >= 0) & (result["zcr"] <= 1))

    # changing a control runs the callback, as a click in JupyterLab does
    explorer.controls["hop_length"].value = 1024
    assert len(explorer.result["zcr"]) == 1 + n_samples // 1024
    assert explorer.values["genre"] == "blues"


def test_explorer_figures_stay_out_of_pyplot(make_gtzan):
    # pyplot's figures are what the inline backend shows and closes from any thread
    mine = plt.figure()
    try:
        explorer = widgets.zcr_explorer(gtzan.track_table(make_gtzan(clips=1)))
        explorer.controls["hop_length"].value = 1024
        assert isinstance(explorer.result["figure"], Figure)
        assert plt.get_fignums() == [mine.number]  # none added, the user's left open
    finally:
        plt.close(mine)


def test_explorer_shows_a_picture_where_widgets_do_not_run(make_gtzan):
    explorer = widgets.zcr_explorer(gtzan.track_table(make_gtzan(clips=1)))
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the live widget
    pixels = _pixels(bundle["image/png"])  # and its current figure, for the book
    assert pixels.shape[1] > 400 and pixels.std() > 10


def test_explorer_draw_errors_are_clear():
    control = dict(x=Dropdown(options=[1, 2]))
    with pytest.raises(TypeError, match="dict with a matplotlib.figure.Figure"):
        widgets.Explorer(lambda x: None, control)

    def with_pyplot(x):
        return dict(figure=plt.figure())

    with pytest.raises(ValueError, match="not pyplot"):
        widgets.Explorer(with_pyplot, control)
    plt.close("all")


SETUP = """
import numpy as np
from genre_lab.widgets import augmentation_explorer
y = (0.1 * np.random.default_rng(0).standard_normal(3 * 22050)).astype("float32")
explorer = augmentation_explorer(y)
print(explorer.controls["augmentation"].model_id, explorer.output.model_id)
"""


def _comm_msg(kc, comm_id, state, subshell):
    msg = kc.session.msg("comm_msg", dict(comm_id=comm_id, data=dict(
        method="update", state=state, buffer_paths=[])))
    msg["header"]["subshell_id"] = subshell
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def test_first_change_draws_in_the_explorer_with_widget_messages_on_a_subshell():
    # JupyterLab sends every widget message to a kernel subshell, and the Output widget syncs
    # its outputs back as soon as one arrives: chapter 6's audio player, before the figure.
    # ipykernel runs the control's first change on the main thread and that sync on the
    # subshell's, at once; with pyplot figures the sync's flush took the figure (to the log
    # console) and the change displayed a blank one.
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        info = kc.kernel_info(reply=True)["content"]
        if "kernel subshells" not in info.get("supported_features", []):
            pytest.skip("this ipykernel has no subshells (ipykernel < 7)")
        kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
        subshell = kc.get_control_msg(timeout=30)["content"]["subshell_id"]
        setup = kc.execute(SETUP)
        printed = ""
        while True:
            msg = kc.get_iopub_msg(timeout=120)
            printed += msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""
            if msg["parent_header"].get("msg_id") == setup and msg["msg_type"] == "status" \
                    and msg["content"]["execution_state"] == "idle":
                break
        control, output = printed.split()[-2:]

        change = _comm_msg(kc, control, dict(index=0), subshell)
        sync, seen, idle = None, [], set()
        while not (sync and {change, sync} <= idle):
            try:
                msg = kc.get_iopub_msg(timeout=30)
            except queue.Empty:
                break
            seen.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle.add(msg["parent_header"].get("msg_id"))
            if sync is None and msg["msg_type"] == "display_data":
                sync = _comm_msg(kc, output, dict(outputs=[dict(
                    output_type="display_data", data=msg["content"]["data"], metadata={})]),
                    subshell)
        assert sync, "the change displayed nothing"
        images = [(m["parent_header"]["msg_id"], m["content"]["data"]["image/png"])
                  for m in seen if m["msg_type"] == "display_data"
                  and "image/png" in m["content"]["data"]]
        assert [parent for parent, _ in images] == [change], \
            "the figure went elsewhere than to the change that drew it (the log console)"
        assert _pixels(images[0][1]).std() > 10, "a blank figure in the explorer"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
