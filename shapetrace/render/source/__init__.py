"""The forward's source annotated with shape comments: reading the code (``reader``),
writing a statement's comment (``comments``) and assembling the listing (``annotate``)."""
