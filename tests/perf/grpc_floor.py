"""The floor under `ScoreTransaction`: a bare `grpc.aio` server answering the same messages with a constant
response (no auth, no features, no model), as its own process. `python -m tests.perf.grpc_floor PORT [CERT KEY]`:
plaintext, or TLS with the given certificate and key (the service's transport, to tell TLS's cost from the rest).

What Python gRPC alone costs on this machine, measured in the same run as the real service, so the service's
latency can be read against it (the machine is shared: absolute figures move, the ratio less so)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc

from services.gen.proactivecare.v1 import fraud_pb2, fraud_pb2_grpc

ANSWER = fraud_pb2.ScoreTransactionResponse(score=0.0, decision=fraud_pb2.DECISION_ALLOW)


class _Constant(fraud_pb2_grpc.FraudServiceServicer):
    async def ScoreTransaction(self, request: fraud_pb2.ScoreTransactionRequest,
                               context: grpc.aio.ServicerContext) -> fraud_pb2.ScoreTransactionResponse:
        return ANSWER


async def serve(port: int, cert: str = "", key: str = "") -> None:
    server = grpc.aio.server()
    fraud_pb2_grpc.add_FraudServiceServicer_to_server(_Constant(), server)
    if cert:
        credentials = grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])
        server.add_secure_port(f"127.0.0.1:{port}", credentials)
    else:
        server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), *sys.argv[2:4]))
