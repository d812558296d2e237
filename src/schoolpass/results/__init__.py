"""Lab results: SimpleReport CSV, HL7 v2.5.1 ELR and FHIR R4, matched to people without guessing."""
