//! Reading back an actor's stored value (V8's structured-clone format, as
//! `ctx.storage` keeps it; a damaged database hands any bytes to it): no
//! crash, and a value that reads stores again and reads again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringworker_isolate::fuzzing::stored_value_round_trip(data);
});
