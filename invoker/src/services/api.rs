//! The invoker's face for services: what the gateway's control API and proxy call.

use super::config::ServiceRequest;
use super::endpoints::{EndpointView, ServiceRoute};
use super::ServiceView;
use crate::{Invoker, InvokerError};
use std::sync::Arc;

impl Invoker {
    pub async fn deploy_service(&self, name: &str, request: ServiceRequest) -> Result<ServiceView, InvokerError> {
        self.inner.services.deploy(name, request).await
    }

    pub fn list_services(&self) -> Vec<ServiceView> {
        self.inner.services.list()
    }

    pub fn get_service(&self, name: &str) -> Result<ServiceView, InvokerError> {
        self.inner.services.get(name)
    }

    pub async fn scale_service(&self, name: &str, count: u32) -> Result<ServiceView, InvokerError> {
        self.inner.services.scale(name, count).await
    }

    pub async fn delete_service(&self, name: &str) -> Result<(), InvokerError> {
        self.inner.services.delete(name).await
    }

    /// Every copy of the service with its address and state (service discovery).
    pub fn service_endpoints(&self, name: &str) -> Result<Vec<EndpointView>, InvokerError> {
        Ok(self.inner.services.get(name)?.copies)
    }

    pub async fn service_logs(&self, name: &str, tail: usize) -> Result<String, InvokerError> {
        self.inner.services.logs(name, tail).await
    }

    /// Where the proxy sends a service's requests; `None` for an unknown service.
    pub fn service_route(&self, name: &str) -> Option<Arc<ServiceRoute>> {
        self.inner.services.route(name)
    }
}
