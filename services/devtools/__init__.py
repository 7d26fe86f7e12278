"""Development tooling, outside the kernel: the embedded Apache Kafka and PostgreSQL the tests and `make run`
start, `make run`'s orchestration (devstack), and the protobuf code generation. The product (services/platform
and the services) never imports this package at run time, except the CLI's `run` and `kafka` commands."""
