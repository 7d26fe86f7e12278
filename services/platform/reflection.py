"""Server reflection, v1 and v1alpha, resolving every symbol grpcurl, ghz and Postman ask for.

grpcio-reflection serves only `grpc.reflection.v1alpha` and looks symbols up in the protobuf pool, which knows
services, messages and fields but not methods: `grpcurl describe proactivecare.v1.FraudService.ScoreTransaction`
and `ghz --call proactivecare.v1.FraudService/ScoreTransaction` failed with "Symbol not found". This servicer
answers a method with its service's file, and serves the same protocol under `grpc.reflection.v1` too (the two
versions' messages are identical on the wire; v1's descriptor is v1alpha's with the package renamed, so clients
that describe the reflection service itself find it)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer
from grpc_reflection.v1alpha._base import _file_descriptor_response, _not_found_error

V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
V1 = "grpc.reflection.v1.ServerReflection"
NAMES = (V1, V1ALPHA)


class Reflection(ReflectionServicer):
    """grpcio-reflection's servicer, with methods resolved to the file of their service."""

    def _file_containing_symbol(self, request: reflection_pb2.ServerReflectionRequest,
                                fully_qualified_name: str) -> reflection_pb2.ServerReflectionResponse:
        try:
            return _file_descriptor_response(self._pool.FindFileContainingSymbol(fully_qualified_name), request)
        except KeyError:
            pass
        service_name, _, method = fully_qualified_name.rpartition(".")
        try:
            service = self._pool.FindServiceByName(service_name)
        except KeyError:
            return _not_found_error(request)
        if method not in service.methods_by_name:
            return _not_found_error(request)
        return _file_descriptor_response(service.file, request)


def _register_v1_descriptor() -> None:
    """Add `grpc/reflection/v1/reflection.proto` to the default pool (once), built from the v1alpha file."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("grpc/reflection/v1/reflection.proto")
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = "grpc/reflection/v1/reflection.proto", "grpc.reflection.v1"
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    for message in proto.message_type:
        for f in message.field:
            if f.type_name:
                f.type_name = f.type_name.replace(old, new)
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(old, new)
        method.output_type = method.output_type.replace(old, new)
    pool.AddSerializedFile(proto.SerializeToString())


def enable(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    """Serve reflection v1 and v1alpha for `service_names` (the reflection services are listed too)."""
    _register_v1_descriptor()
    servicer = Reflection((*service_names, *NAMES))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo, request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1, {"ServerReflectionInfo": v1}),))
