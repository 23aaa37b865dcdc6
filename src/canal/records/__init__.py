"""Reading records on behalf of a principal: search, one record with its versions, iteration."""
