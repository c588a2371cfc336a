"""The pure parts of the Harbor importer: a Dockerfile as steps, the edit set from AutoLab's prose."""

from __future__ import annotations

import pytest

from autolab_mcp.importers.dockerfile import DockerfileError, parse_dockerfile
from autolab_mcp.importers.edit_set import infer_edit_set

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM python:3.11-slim
ARG N=12
ENV PYTHONUNBUFFERED=1 DATA_DIR=/data
WORKDIR /app
COPY --chown=1000:1000 solve.py check.py /app/
RUN pip install --no-cache-dir numpy==2.1.* \\
    && python make_data.py --n ${N}
# hidden copies for tamper checks
RUN mkdir -p /orig && cp /app/solve.py /orig/
ADD ["data dir/", "$DATA_DIR/"]
CMD ["sleep", "infinity"]
FROBNICATE now
"""


def test_a_dockerfile_becomes_steps_with_variables_substituted():
    steps = parse_dockerfile(DOCKERFILE)
    kinds = [s.instruction for s in steps]
    assert kinds == ["FROM", "ARG", "ENV", "WORKDIR", "COPY", "RUN", "RUN", "ADD", "CMD", "UNSUPPORTED"]
    assert steps[0].args == ["python:3.11-slim"]
    assert steps[2].args == ["PYTHONUNBUFFERED=1", "DATA_DIR=/data"]
    assert steps[4].args == ["solve.py", "check.py", "/app/"]  # --chown dropped: ownership is ours
    assert steps[5].args == ["pip install --no-cache-dir numpy==2.1.* && python make_data.py --n ${N}"]
    assert steps[5].line == 7
    assert steps[7].args == ["data dir/", "/data/"]  # JSON form, ENV substituted
    assert steps[9].args == ["FROBNICATE"] and steps[9].line == 13


@pytest.mark.parametrize(("text", "message"), [
    ("RUN echo hi\n", "no FROM line"),
    ("FROM debian\nCOPY onlyone\n", "line 2: COPY needs a source and a destination"),
    ('FROM debian\nCMD ["a", \n', "line 2: CMD's JSON form is not valid JSON"),
    ("FROM debian\nENV =x\n", "line 2: ENV '=x': expected KEY=VALUE"),
])
def test_a_malformed_dockerfile_names_the_line(text, message):
    with pytest.raises(DockerfileError, match=message.replace("[", r"\[")):
        parse_dockerfile(text)


@pytest.mark.parametrize(("instruction", "globs", "outside"), [
    ("Edit only `solve.py`. Keep the rest.", ["solve.py"], []),
    ("Rules: edit only `/app/sort.c` and `/app/sort.h`; do not touch /orig.", ["sort.c", "sort.h"], []),
    ("| path | role |\n|---|---|\n| **Edit** | `/app/net.txt` |\n| **Read** | `/app/check.py` |", ["net.txt"], []),
    ("Edit only `/data/train.bin`.", [], ["/data/train.bin"]),
    ("Edit only `../escape.py`.", [], ["../escape.py"]),
    ("Improve the program in /app.", [], []),
])
def test_the_edit_set_comes_from_the_instruction_and_never_leaves_the_workdir(instruction, globs, outside):
    found = infer_edit_set(instruction, "/app")
    assert found.globs == globs and found.outside == outside
