//! Pure object manipulation the API server needs: strategic merge patch, server-side
//! apply with managed fields, and structural OpenAPI schema validation and pruning.
