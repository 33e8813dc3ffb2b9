//! How far a follower of the config store has applied its watch, and a way to wait for it: a
//! writer that stored a change at revision R returns only once this node serves R.

use skiff_state::config::Revision;
use tokio::sync::watch;

pub(crate) struct Applied(watch::Sender<Revision>);

impl Default for Applied {
    fn default() -> Self {
        Self(watch::channel(Revision::default()).0)
    }
}

impl Applied {
    /// Everything up to `revision` is applied.
    pub(crate) fn mark(&self, revision: Revision) {
        self.0.send_if_modified(|r| {
            let newer = revision > *r;
            if newer {
                *r = revision;
            }
            newer
        });
    }

    /// Returns once everything up to `revision` is applied.
    pub(crate) async fn wait(&self, revision: Revision) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so the wait ends only by reaching the revision.
        let _ = rx.wait_for(|r| *r >= revision).await;
    }
}
