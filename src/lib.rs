//! ringworker: placeholder while the skeleton lands.
