//! The worker: connect to the broker, subscribe, turn each message into an
//! `iot.mqtt.telemetry` event, acknowledge it (QoS 1) once the event is in
//! the kernel's log, and reconnect with a backoff that doubles from 250 ms
//! to 30 s after a failure, until the kernel asks it to stop.
//!
//! The session is persistent (`clean_session = false`, a fixed client id):
//! QoS 1 messages that arrive while the bridge is away (a broken
//! connection, a restart of the kernel or the plugin) wait at the broker.
//! Acknowledgements and subscriptions go through the client's request
//! queue, which only drains while the connection is polled: when it is
//! full they wait in `Pending` and are retried on the next turn, never
//! blocking the loop that drains it.

use std::collections::VecDeque;
use std::time::Duration;

use rumqttc::{Client, Connection, Event, MqttOptions, Packet, Publish, QoS};
use tessera_host_api::native::{Host, LogLevel, NativeConfig, PublishCode, PublishError};

use crate::message::telemetry_event;
use crate::settings::Settings;
use crate::status::STATUS;

/// The topic the IoT plugin subscribes to.
pub const TELEMETRY_TOPIC: &str = "iot.mqtt.telemetry";

/// How long one poll of the connection may block: the worker notices a
/// stop request within about this long.
const POLL: Duration = Duration::from_millis(500);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const LONGEST_BACKOFF: Duration = Duration::from_secs(30);
/// Capacity of the client's request queue (acknowledgements, subscriptions).
const REQUEST_QUEUE: usize = 1024;

/// Requests the client's queue could not take yet.
#[derive(Default)]
struct Pending {
    acks: VecDeque<Publish>,
    subscribe: bool,
}

impl Pending {
    /// Hand what waits to the client, as far as its queue takes it.
    fn flush(&mut self, client: &Client, settings: &Settings, qos: QoS) {
        if self.subscribe {
            let filters: Vec<_> = settings
                .templates
                .iter()
                .map(|template| rumqttc::SubscribeFilter::new(template.filter(), qos))
                .collect();
            self.subscribe = client.try_subscribe_many(filters).is_err();
        }
        while let Some(message) = self.acks.front() {
            if client.try_ack(message).is_err() {
                break;
            }
            self.acks.pop_front();
        }
    }
}

/// Run the bridge until the kernel asks it to stop.
pub fn run(host: Host<'_>, config: NativeConfig) -> Result<(), String> {
    let settings = Settings::from_config(&config)?;
    let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    options
        .set_keep_alive(settings.keep_alive)
        .set_clean_session(false)
        .set_manual_acks(true);
    if let Some((username, password)) = &settings.credentials {
        options.set_credentials(username, password);
    }
    let (client, mut connection) = Client::new(options, REQUEST_QUEUE);
    host.log(
        LogLevel::Info,
        &format!(
            "MQTT bridge connecting to {}:{} for {}",
            settings.host,
            settings.port,
            settings
                .templates
                .iter()
                .map(|template| template.filter())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let outcome = poll(&host, &settings, &client, &mut connection);
    STATUS.set_connected(false);
    let _ = client.try_disconnect();
    outcome
}

fn poll(
    host: &Host<'_>,
    settings: &Settings,
    client: &Client,
    connection: &mut Connection,
) -> Result<(), String> {
    let qos = if settings.qos_one {
        QoS::AtLeastOnce
    } else {
        QoS::AtMostOnce
    };
    let mut backoff = FIRST_BACKOFF;
    let mut pending = Pending::default();
    while !host.stopping() {
        pending.flush(client, settings, qos);
        match connection.recv_timeout(POLL) {
            Err(rumqttc::RecvTimeoutError::Timeout) => {}
            Err(rumqttc::RecvTimeoutError::Disconnected) => {
                return Err("the MQTT client's request channel closed".into());
            }
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                backoff = FIRST_BACKOFF;
                STATUS.set_connected(true);
                host.log(LogLevel::Info, "MQTT bridge connected");
                // Acknowledgements of the previous connection are void;
                // the broker sends those messages again.
                pending.acks.clear();
                pending.subscribe = true;
            }
            Ok(Ok(Event::Incoming(Packet::Publish(message)))) => {
                if !forward(host, settings, &message) {
                    // The kernel could not take it: leave it unacknowledged
                    // (the broker sends it again after a reconnect).
                    continue;
                }
                if message.qos != QoS::AtMostOnce {
                    pending.acks.push_back(message);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                STATUS.set_connected(false);
                let why = format!(
                    "MQTT connection to {}:{}: {error}",
                    settings.host, settings.port
                );
                STATUS.error(why.clone());
                host.log(
                    LogLevel::Warn,
                    &format!("{why}; reconnecting in {} ms", backoff.as_millis()),
                );
                if host.wait(backoff) {
                    break;
                }
                backoff = (backoff * 2).min(LONGEST_BACKOFF);
            }
        }
    }
    Ok(())
}

/// Publish the event for `message`; whether it is dealt with (published,
/// or dropped for good because it is not telemetry or not allowed).
fn forward(host: &Host<'_>, settings: &Settings, message: &Publish) -> bool {
    STATUS.received();
    let Some(origin) = settings.origin(&message.topic) else {
        STATUS.dropped(format!("`{}` matches no topic template", message.topic));
        return true;
    };
    let event = match telemetry_event(&origin, &message.topic, &message.payload) {
        Ok(event) => event,
        Err(why) => {
            host.log(LogLevel::Warn, &why);
            STATUS.dropped(why);
            return true;
        }
    };
    match host.publish_json(TELEMETRY_TOPIC, &event) {
        Ok(()) => {
            STATUS.published();
            true
        }
        Err(PublishError::Refused {
            code: PublishCode::Unavailable,
            ..
        }) => {
            STATUS.error("the kernel could not store an event; the broker will resend".into());
            // Pause before the next message so as not to spin.
            host.wait(FIRST_BACKOFF);
            false
        }
        Err(error) => {
            STATUS.dropped(error.to_string());
            true
        }
    }
}
