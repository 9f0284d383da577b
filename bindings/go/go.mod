module libdatamodel.dev/datamodel

go 1.19
