//! Account subscriptions through the main async-nats client, one `Subscriber` each: used
//! only when `nats_urls` has a `tls://` URL, which the subscription connection does not speak
//! (it costs the per-subscription channel block described in the parent module).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_nats::{Client, Message};
use futures_util::stream::{SelectAll, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Deliver;

type MsgStream = Pin<Box<dyn Stream<Item = Message> + Send>>;

/// Subscribers of the main client, all polled by one dispatcher task.
pub struct ClientSubs {
    client: Client,
    /// Dropping a sender ends that subscription's stream in the dispatcher, which drops the
    /// subscriber (UNSUB to NATS).
    cancels: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    streams: mpsc::UnboundedSender<MsgStream>,
    streams_rx: Mutex<Option<mpsc::UnboundedReceiver<MsgStream>>>,
}

impl ClientSubs {
    pub fn new(client: Client) -> ClientSubs {
        let (streams, rx) = mpsc::unbounded_channel();
        ClientSubs {
            client,
            cancels: Mutex::new(HashMap::new()),
            streams,
            streams_rx: Mutex::new(Some(rx)),
        }
    }

    fn cancels(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        self.cancels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes `subject` as `sid`. If [`ClientSubs::unsubscribe`] comes while this awaits,
    /// the stream ends as soon as the dispatcher gets it: the subscription never lingers.
    pub async fn subscribe(&self, sid: u64, subject: String) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.cancels().insert(sid, tx);
        let sub = self.client.subscribe(subject).await.map_err(|e| e.to_string())?;
        let stream: MsgStream = Box::pin(sub.take_until(rx));
        self.streams.send(stream).map_err(|_| "cluster stopped".to_owned())
    }

    pub fn unsubscribe(&self, sid: u64) {
        self.cancels().remove(&sid);
    }

    /// Starts the dispatcher (once; later calls return `None`).
    pub fn spawn<D: Deliver>(&self, deliver: Arc<D>) -> Option<JoinHandle<()>> {
        let mut new_streams = self.streams_rx.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        Some(tokio::spawn(async move {
            let mut all: SelectAll<MsgStream> = SelectAll::new();
            loop {
                tokio::select! {
                    s = new_streams.recv() => match s {
                        Some(s) => all.push(s),
                        None => return,
                    },
                    Some(msg) = all.next(), if !all.is_empty() => {
                        deliver.deliver(msg.payload, msg.reply.map(|r| r.to_string())).await;
                    }
                }
            }
        }))
    }
}
