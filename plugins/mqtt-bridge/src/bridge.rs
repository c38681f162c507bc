//! The worker: connect to the broker, subscribe, turn each message into an
//! `iot.mqtt.telemetry` event, acknowledge it (QoS 1) once the event is in
//! the kernel's log, and reconnect with a backoff that doubles from 250 ms
//! to 30 s after a failure, until the kernel asks it to stop.

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

/// Run the bridge until the kernel asks it to stop.
pub fn run(host: Host<'_>, config: NativeConfig) -> Result<(), String> {
    let settings = Settings::from_config(&config)?;
    let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    options
        .set_keep_alive(settings.keep_alive)
        .set_clean_session(true)
        .set_manual_acks(true);
    if let Some((username, password)) = &settings.credentials {
        options.set_credentials(username, password);
    }
    let (client, mut connection) = Client::new(options, 64);
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
    while !host.stopping() {
        match connection.recv_timeout(POLL) {
            Err(rumqttc::RecvTimeoutError::Timeout) => {}
            Err(rumqttc::RecvTimeoutError::Disconnected) => {
                return Err("the MQTT client's request channel closed".into());
            }
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                backoff = FIRST_BACKOFF;
                STATUS.set_connected(true);
                host.log(LogLevel::Info, "MQTT bridge connected");
                for template in &settings.templates {
                    client
                        .try_subscribe(template.filter(), qos)
                        .map_err(|error| format!("cannot subscribe: {error}"))?;
                }
            }
            Ok(Ok(Event::Incoming(Packet::Publish(message)))) => {
                if !forward(host, settings, &message) {
                    // The kernel could not take it: leave it unacknowledged
                    // (the broker sends it again after a reconnect).
                    continue;
                }
                if message.qos != QoS::AtMostOnce {
                    client
                        .try_ack(&message)
                        .map_err(|error| format!("cannot acknowledge: {error}"))?;
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
