print("dicom-ingest")
