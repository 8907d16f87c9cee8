//! Drawing a [`Graph`] as SVG, with the `layout-rs` library.

use std::panic::{AssertUnwindSafe, catch_unwind};

use layout::backends::svg::SVGWriter;
use layout::gv::{DotParser, GraphBuilder};

use crate::{Graph, GraphError};

pub(crate) fn render(graph: &Graph) -> Result<String, GraphError> {
    let dot = graph.dot();
    let mut parser = DotParser::new(&dot);
    let ast = parser.process().map_err(GraphError::Render)?;
    // The library asserts its own invariants with panics; a drawing it
    // cannot make must be an error, not a crash.
    let drawn = catch_unwind(AssertUnwindSafe(|| {
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&ast);
        let mut visual = builder.get();
        let mut svg = SVGWriter::new();
        visual.do_it(false, false, false, &mut svg);
        svg.finalize()
    }));
    drawn.map_err(|_| GraphError::Render("the layout library failed".to_owned()))
}
