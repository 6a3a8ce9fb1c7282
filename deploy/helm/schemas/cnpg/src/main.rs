//! Writes one CustomResourceDefinition a line (JSON) for the CloudNativePG kinds the chart uses.
use k8s_crds_cloud_native_pg::{Cluster, Database, Pooler};
use kube::CustomResourceExt;

fn main() {
    for crd in [Cluster::crd(), Database::crd(), Pooler::crd()] {
        println!("{}", serde_json::to_string(&crd).expect("a CRD serialises"));
    }
}
