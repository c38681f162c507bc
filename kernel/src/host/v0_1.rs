//! `tessera:plugin@0.1.0`, the released contract frozen in
//! `wit/released/0.1.0/`, served by adapting every call to the latest host
//! implementation (the other modules of [`crate::host`]).
//!
//! Each function converts its arguments to the latest types, calls the
//! latest implementation and converts the result back
//! ([`tessera_host_api::bindings::Adapt`]). The only difference today is
//! storage's `quota-exceeded` (new in 0.2.0), which a 0.1 guest receives as
//! `limit-exceeded` with the kernel's message. Releasing 0.3.0 adds a
//! `v0_2.rs` like this one; see `docs/contract-versions.md`.

use tessera_host_api::bindings::Adapt;
use tessera_host_api::bindings::tessera::plugin as latest;
use tessera_host_api::bindings::v0_1::tessera::plugin::{
    config, events, http_types, identity, invoke, jobs, log, outbound, storage,
};
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

impl http_types::Host for HostState {}

impl storage::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, storage::StorageError> {
        latest::storage::Host::get(self, key).await.adapt()
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), storage::StorageError> {
        latest::storage::Host::set(self, key, value).await.adapt()
    }

    async fn delete(&mut self, key: String) -> Result<bool, storage::StorageError> {
        latest::storage::Host::delete(self, key).await.adapt()
    }

    async fn scan(
        &mut self,
        request: storage::ScanRequest,
    ) -> Result<storage::ScanPage, storage::StorageError> {
        latest::storage::Host::scan(self, request.adapt())
            .await
            .adapt()
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<storage::CasOutcome, storage::StorageError> {
        latest::storage::Host::compare_and_swap(self, key, expected, new)
            .await
            .adapt()
    }

    async fn batch(
        &mut self,
        operations: Vec<storage::Operation>,
    ) -> Result<(), storage::StorageError> {
        latest::storage::Host::batch(self, operations.adapt())
            .await
            .adapt()
    }
}

impl identity::Host for HostState {
    async fn current(&mut self) -> identity::Principal {
        latest::identity::Host::current(self).await.adapt()
    }

    async fn check(&mut self, permission: String, resource: Option<String>) -> bool {
        latest::identity::Host::check(self, permission, resource).await
    }

    async fn lookup_user(
        &mut self,
        id: String,
    ) -> Result<Option<identity::User>, identity::IdentityError> {
        latest::identity::Host::lookup_user(self, id).await.adapt()
    }
}

impl events::Host for HostState {
    async fn publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> Result<String, events::PublishError> {
        latest::events::Host::publish(self, topic, payload)
            .await
            .adapt()
    }
}

impl jobs::Host for HostState {
    async fn schedule(
        &mut self,
        name: String,
        when: jobs::Timing,
        payload: Vec<u8>,
    ) -> Result<(), jobs::JobError> {
        latest::jobs::Host::schedule(self, name, when.adapt(), payload)
            .await
            .adapt()
    }

    async fn cancel(&mut self, name: String) -> Result<bool, jobs::JobError> {
        latest::jobs::Host::cancel(self, name).await.adapt()
    }
}

impl outbound::Host for HostState {
    async fn send(
        &mut self,
        request: outbound::OutboundRequest,
    ) -> Result<outbound::OutboundResponse, outbound::OutboundError> {
        latest::outbound::Host::send(self, request.adapt())
            .await
            .adapt()
    }
}

impl config::Host for HostState {
    async fn get(&mut self, key: String) -> Option<String> {
        latest::config::Host::get(self, key).await
    }

    async fn all(&mut self) -> Vec<(String, String)> {
        latest::config::Host::all(self).await
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) {
        latest::log::Host::log(self, level.adapt(), message).await;
    }
}

impl invoke::Host for HostState {
    async fn call(
        &mut self,
        plugin: String,
        request: http_types::Request,
    ) -> Result<http_types::Response, invoke::InvokeError> {
        latest::invoke::Host::call(self, plugin, request.adapt())
            .await
            .adapt()
    }
}

/// Define every `tessera:plugin/*@0.1.0` import in `linker`, beside the
/// latest ones (the names differ by version, so one linker serves both).
pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    http_types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    storage::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    identity::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    events::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    jobs::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    outbound::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    config::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    invoke::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    Ok(())
}
