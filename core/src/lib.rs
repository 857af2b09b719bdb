//! ringworker-core: placeholder while the skeleton lands.
