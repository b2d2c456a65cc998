//! The integration-test binary: one executable so the suite links once. Each module owns
//! one area; `support` finds the parts the tests need (the daemon binary, the Kafka test
//! broker) and fails loudly when a part is missing.

mod avro_e2e;
mod big_txn;
mod chaos;
mod cli;
mod config_errors;
mod consumers;
mod corpus;
mod corpus_replay;
mod corpus_replay_avro;
mod corpus_replay_codec;
mod corpus_replay_debezium;
mod corpus_replay_mount;
mod ddl_job_rows;
mod debezium_e2e;
mod decode_cli;
mod decode_fuzz_regressions;
mod demo;
mod e2e;
mod emulator;
mod fuzz_corpus;
mod ha;
mod kafka_check;
mod kafka_env;
mod kafka_listeners;
mod kafka_restart;
mod kafka_sigstop;
mod kafka_sink;
mod kafka_stall;
mod large_messages;
mod layers;
mod load;
mod mariadb_env;
mod mount_rows;
mod open_e2e;
mod own_broker;
mod own_mariadb;
mod pipeline;
mod schema;
mod sql_store;
mod stale_locks;
mod state_faults;
mod support;
mod systemd_notify;
pub mod upstream;
mod upstream_faults;
