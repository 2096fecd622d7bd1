import { memoryPglite } from '../helpers/databases.js';
import { timestampsSuite } from './timestamps-suite.js';

timestampsSuite('PGlite', memoryPglite);
