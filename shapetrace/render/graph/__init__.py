"""The data-flow graph: which call fed which (``links``), how calls fold into boxes
(``layout``), and the graphviz ``Digraph`` (``digraph``)."""
