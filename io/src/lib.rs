//! ringworker-io: placeholder while the skeleton lands.
