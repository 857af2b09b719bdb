//! A V8 CPU profile of the isolate (`WorkerOptions::cpu_profile`), taken
//! through V8's inspector protocol (`Profiler.start` / `Profiler.stop`), as
//! Chrome DevTools and `node --cpu-prof` take theirs; the result is a
//! `.cpuprofile` DevTools loads.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use v8::inspector::{
    Channel, ChannelImpl, StringBuffer, StringView, V8Inspector, V8InspectorClient,
    V8InspectorClientImpl, V8InspectorClientTrustLevel, V8InspectorSession,
};

struct Client;
impl V8InspectorClientImpl for Client {}

/// Collects the protocol responses.
#[derive(Clone, Default)]
struct Responses(Rc<RefCell<Vec<String>>>);

impl ChannelImpl for Responses {
    fn send_response(&self, _call_id: i32, message: v8::UniquePtr<StringBuffer>) {
        if let Some(m) = message.as_ref() {
            self.0.borrow_mut().push(m.string().to_string());
        }
    }
    fn send_notification(&self, _message: v8::UniquePtr<StringBuffer>) {}
    fn flush_protocol_notifications(&self) {}
}

/// A profiling session on one isolate. Drop it before the isolate.
pub(crate) struct CpuProfile {
    // Field order: the session goes before the inspector.
    session: V8InspectorSession,
    inspector: V8Inspector,
    responses: Responses,
    path: PathBuf,
}

impl CpuProfile {
    /// Starts sampling `context` every millisecond.
    pub(crate) fn start(
        scope: &mut v8::PinScope,
        context: v8::Local<v8::Context>,
        path: PathBuf,
    ) -> CpuProfile {
        let inspector = V8Inspector::create(scope, V8InspectorClient::new(Box::new(Client)));
        let name = StringView::from(&b"ringworker"[..]);
        inspector.context_created(context, 1, name, StringView::from(&b""[..]));
        let responses = Responses::default();
        let session = inspector.connect(
            1,
            Channel::new(Box::new(responses.clone())),
            StringView::from(&b"{}"[..]),
            V8InspectorClientTrustLevel::FullyTrusted,
        );
        for m in [
            &br#"{"id":1,"method":"Profiler.enable"}"#[..],
            br#"{"id":2,"method":"Profiler.setSamplingInterval","params":{"interval":1000}}"#,
            br#"{"id":3,"method":"Profiler.start"}"#,
        ] {
            session.dispatch_protocol_message(StringView::from(m));
        }
        CpuProfile {
            session,
            inspector,
            responses,
            path,
        }
    }

    /// Stops sampling and writes the profile (call with the isolate entered).
    pub(crate) fn finish(self, shard: usize) {
        self.session.dispatch_protocol_message(StringView::from(
            &br#"{"id":4,"method":"Profiler.stop"}"#[..],
        ));
        let responses = self.responses.0.borrow();
        // {"id":4,"result":{"profile":{...}}}
        let profile = responses.iter().find_map(|r| {
            let rest = r.strip_prefix(r#"{"id":4,"result":{"profile":"#)?;
            rest.strip_suffix("}}")
        });
        let path = if shard == 0 {
            self.path.clone()
        } else {
            self.path.with_extension(format!("shard{shard}.cpuprofile"))
        };
        match profile {
            Some(p) => {
                if let Err(e) = std::fs::write(&path, p) {
                    tracing::error!("cannot write the CPU profile to {}: {e}", path.display());
                }
            }
            None => tracing::error!("V8 returned no CPU profile: {:?}", responses.last()),
        }
        drop(responses);
        drop(self.session);
        drop(self.inspector);
    }
}
