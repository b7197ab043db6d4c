//! The run-state projection's graph (participants, proposals, decisions
//! and the messages between them), with the index that keeps folding a
//! long run linear.

use super::RunStateView;
use aggregates::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
    /// Where each node id is in `nodes`: a long run has thousands of nodes,
    /// and a linear search per event would make folding it quadratic.
    #[serde(skip)]
    node_index: NodeIndex,
}

/// Derived from `nodes` alone (rebuilt after a load), so it never makes two
/// graphs differ.
#[derive(Debug, Clone, Default)]
struct NodeIndex(std::collections::HashMap<String, usize>);

impl PartialEq for NodeIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Graph {
    fn node_mut(&mut self, id: &str) -> Option<&mut GraphNode> {
        if self.node_index.0.len() != self.nodes.len() {
            self.node_index.0 = (self.nodes.iter().enumerate())
                .map(|(i, node)| (node.id.clone(), i))
                .collect();
        }
        let index = *self.node_index.0.get(id)?;
        self.nodes.get_mut(index)
    }

    fn push_node(&mut self, node: GraphNode) {
        self.node_index.0.insert(node.id.clone(), self.nodes.len());
        self.nodes.push(node);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    pub id: String,
    pub kind: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub kind: String,
    pub ts: Timestamp,
}

impl RunStateView {
    /// The node `id`, now at `status`; added with `kind` the first time.
    pub(super) fn graph_node(&mut self, id: &str, kind: &str, status: &str) {
        match self.graph.node_mut(id) {
            Some(node) => node.status = status.to_string(),
            None => self.graph.push_node(GraphNode {
                id: id.to_string(),
                kind: kind.to_string(),
                status: status.to_string(),
            }),
        }
    }
}
