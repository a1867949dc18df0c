//! API errors: the wire `Code`, HTTP status and message the managed service
//! answers with (codes as botocore's model names them: `CacheClusterNotFound`
//! but `ReplicationGroupNotFoundFault`).

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            status,
            message: message.into(),
        }
    }

    pub fn missing(name: &str) -> ApiError {
        ApiError::new(
            "MissingParameter",
            400,
            format!("The request must contain the parameter {name}"),
        )
    }

    pub fn invalid_value(message: impl Into<String>) -> ApiError {
        ApiError::new("InvalidParameterValue", 400, message)
    }

    pub fn invalid_combination(message: impl Into<String>) -> ApiError {
        ApiError::new("InvalidParameterCombination", 400, message)
    }

    pub fn cluster_not_found(id: &str) -> ApiError {
        ApiError::new(
            "CacheClusterNotFound",
            404,
            format!("CacheCluster not found: {id}"),
        )
    }

    pub fn invalid_cluster_state(message: impl Into<String>) -> ApiError {
        ApiError::new("InvalidCacheClusterState", 400, message)
    }

    /// The state store failed (disk full, permissions): the request did
    /// not happen.
    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            "InternalFailure",
            500,
            format!("The control plane could not complete the request: {message}"),
        )
    }

    /// The `Type` element: whose fault it is.
    pub fn fault_type(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }
}
