"""Generate the protobuf and gRPC code into `services/gen` (run by `make`; never edit the output by hand).

grpc_tools writes absolute imports (`from proactivecare.v1 import ...`); they are rewritten so the generated
package lives inside `services`."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
OUT = ROOT / "services" / "gen"
_IMPORT = re.compile(r"^from proactivecare\.v1 import", re.MULTILINE)


def generate() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "proactivecare" / "v1").glob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={OUT}", f"--pyi_out={OUT}",
                        f"--grpc_python_out={OUT}", *files])
    if code != 0:
        return code
    for path in OUT.rglob("*.py*"):
        path.write_text(_IMPORT.sub("from services.gen.proactivecare.v1 import", path.read_text()))
    for package in (OUT, OUT / "proactivecare", OUT / "proactivecare" / "v1"):
        (package / "__init__.py").touch()
    return 0


if __name__ == "__main__":
    sys.exit(generate())
