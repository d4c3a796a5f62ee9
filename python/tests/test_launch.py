"""A Python node under the real `launch` binary: it gets its params,
namespace and remaps from the launcher's environment, and Ctrl-C (SIGINT
to `launch`, which sends SIGTERM to the node) stops it cleanly."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from conftest import REPO, _target_dir

NODE = textwrap.dedent("""
    import axon
    node = axon.Node("detector")
    try:
        sub = node.subscriber("image", axon.msgs.Image)
        print("params", node.params["threshold"], node.params["labels"], flush=True)
        print("topic", sub.topic, flush=True)
        for sample in sub:
            sample.release()
    except KeyboardInterrupt:
        print("stopped cleanly", flush=True)
""")


def launch_binary():
    path = os.path.join(_target_dir(), "release", "launch")
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "--release", "-p", "axon-launch"], cwd=REPO, check=True)
    return path


def test_python_node_under_launch_gets_params_and_stops_on_ctrl_c(domain, tmp_path):
    (tmp_path / "detector.py").write_text(NODE)
    (tmp_path / "robot.toml").write_text(textwrap.dedent(f"""
        [launch]
        grace = "10s"

        [[node]]
        name = "detector"
        exec = "{sys.executable}"
        args = ["{tmp_path / 'detector.py'}"]
        namespace = "/robot1"
        remap = {{ image = "/camera/image" }}
        params = {{ threshold = 0.25, labels = ["cup", "pen"] }}
    """))
    launch = subprocess.Popen([launch_binary(), "robot.toml"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 30
        while not any("topic " in line for line in lines):
            assert time.monotonic() < deadline, lines
            line = launch.stdout.readline()
            assert line, lines
            lines.append(line)
        launch.send_signal(signal.SIGINT)
        out, _ = launch.communicate(timeout=30)
        lines += out.splitlines()
    finally:
        launch.kill()
    text = "\n".join(lines)
    assert "params 0.25 ['cup', 'pen']" in text, text
    assert "topic /camera/image" in text, text
    assert "stopped cleanly" in text, text
    assert launch.returncode == 0, text
