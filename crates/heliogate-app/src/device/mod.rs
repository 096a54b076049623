//! The device authorization grant (RFC 8628): a device without a browser asks for a code
//! (`authorization`), its user approves it in a browser elsewhere (`approval`), and the device
//! polls the token endpoint until its tokens come (`grant`).

pub mod approval;
pub mod authorization;
pub mod grant;

pub use approval::{approve, find_pending, Found};
pub use authorization::{device_authorization, DeviceAuthorizationResponse};
