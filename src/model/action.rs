//! TiDB's DDL job kinds: the `ActionType` numbers of `pkg/meta/model/job.go`, as DDL job rows
//! carry them and as DDL events report them.
//!
//! Guarantees: one type for the concept across the crate; the numbers are TiDB's, so a job
//! of a kind not named here keeps its number and passes through unchanged.

use std::fmt;

/// TiDB DDL job action type (`pkg/meta/model/job.go` `ActionType`).
/// The default is `NONE` (0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ActionType(pub u8);

#[allow(missing_docs)]
impl ActionType {
    pub const NONE: ActionType = ActionType(0);
    pub const CREATE_SCHEMA: ActionType = ActionType(1);
    pub const DROP_SCHEMA: ActionType = ActionType(2);
    pub const CREATE_TABLE: ActionType = ActionType(3);
    pub const DROP_TABLE: ActionType = ActionType(4);
    pub const ADD_COLUMN: ActionType = ActionType(5);
    pub const DROP_COLUMN: ActionType = ActionType(6);
    pub const ADD_INDEX: ActionType = ActionType(7);
    pub const DROP_INDEX: ActionType = ActionType(8);
    pub const ADD_FOREIGN_KEY: ActionType = ActionType(9);
    pub const DROP_FOREIGN_KEY: ActionType = ActionType(10);
    pub const TRUNCATE_TABLE: ActionType = ActionType(11);
    pub const MODIFY_COLUMN: ActionType = ActionType(12);
    pub const REBASE_AUTO_ID: ActionType = ActionType(13);
    pub const RENAME_TABLE: ActionType = ActionType(14);
    pub const SET_DEFAULT_VALUE: ActionType = ActionType(15);
    pub const SHARD_ROW_ID: ActionType = ActionType(16);
    pub const MODIFY_TABLE_COMMENT: ActionType = ActionType(17);
    pub const RENAME_INDEX: ActionType = ActionType(18);
    pub const ADD_TABLE_PARTITION: ActionType = ActionType(19);
    pub const DROP_TABLE_PARTITION: ActionType = ActionType(20);
    pub const CREATE_VIEW: ActionType = ActionType(21);
    pub const MODIFY_TABLE_CHARSET_AND_COLLATE: ActionType = ActionType(22);
    pub const TRUNCATE_TABLE_PARTITION: ActionType = ActionType(23);
    pub const DROP_VIEW: ActionType = ActionType(24);
    pub const RECOVER_TABLE: ActionType = ActionType(25);
    pub const MODIFY_SCHEMA_CHARSET_AND_COLLATE: ActionType = ActionType(26);
    pub const LOCK_TABLE: ActionType = ActionType(27);
    pub const UNLOCK_TABLE: ActionType = ActionType(28);
    pub const REPAIR_TABLE: ActionType = ActionType(29);
    pub const SET_TIFLASH_REPLICA: ActionType = ActionType(30);
    pub const UPDATE_TIFLASH_REPLICA_STATUS: ActionType = ActionType(31);
    pub const ADD_PRIMARY_KEY: ActionType = ActionType(32);
    pub const DROP_PRIMARY_KEY: ActionType = ActionType(33);
    pub const CREATE_SEQUENCE: ActionType = ActionType(34);
    pub const ALTER_SEQUENCE: ActionType = ActionType(35);
    pub const DROP_SEQUENCE: ActionType = ActionType(36);
    pub const ADD_COLUMNS: ActionType = ActionType(37);
    pub const DROP_COLUMNS: ActionType = ActionType(38);
    pub const MODIFY_TABLE_AUTO_ID_CACHE: ActionType = ActionType(39);
    pub const REBASE_AUTO_RANDOM_BASE: ActionType = ActionType(40);
    pub const ALTER_INDEX_VISIBILITY: ActionType = ActionType(41);
    pub const EXCHANGE_TABLE_PARTITION: ActionType = ActionType(42);
    pub const RENAME_TABLES: ActionType = ActionType(47);
    pub const CREATE_TABLES: ActionType = ActionType(60);
    pub const MULTI_SCHEMA_CHANGE: ActionType = ActionType(61);
    pub const REORGANIZE_PARTITION: ActionType = ActionType(64);
    pub const ALTER_TABLE_PARTITIONING: ActionType = ActionType(71);
    pub const REMOVE_PARTITIONING: ActionType = ActionType(72);
}

impl fmt::Display for ActionType {
    /// TiDB's number, as TiDB's own messages print a job type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
